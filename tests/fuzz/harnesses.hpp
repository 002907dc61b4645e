// Fuzz harnesses: each takes arbitrary bytes and feeds them to one reader of outside input. The
// only acceptable outcome besides success is the reader's documented error (ConfigError,
// DataError); anything else (another exception, an abort, a sanitizer report) is a bug. They
// run under libFuzzer (fuzz/, built only when asked) and over the kept corpus in the suite
// (tests/fuzz/test_corpus.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace genbox::fuzz {

// A config file (TOML) and a command-line override, against a schema with a key of every kind.
int config(const uint8_t* data, size_t size);
// An IDX file (raw or gzipped), as the image readers open it.
int idx(const uint8_t* data, size_t size);
// metrics.jsonl text, as compare reads it.
int metrics(const uint8_t* data, size_t size);
// A JSON document (meta.json, eval.json, COCO annotations), as every reader parses it.
int json(const uint8_t* data, size_t size);
// An image file of a folder set (any format), decoded to RGB and grey and fitted by every crop.
int image(const uint8_t* data, size_t size);

}  // namespace genbox::fuzz
