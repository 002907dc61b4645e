// The doctest runner for genbox_report_tests, which needs no torch.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
