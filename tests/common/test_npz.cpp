#include <doctest/doctest.h>

#include <torch/torch.h>

#include <map>
#include <string>

#include "base/fsutil.hpp"
#include "common/npz.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
// A .npy file written out by hand: its header dict verbatim, then the raw bytes.
std::string npy(const std::string& dict, const std::string& data) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(header.size() >> 8) + header + data;
}
}  // namespace

TEST_CASE("npz archives keep every array's type, shape and values") {
  TempDir dir;
  torch::manual_seed(3);
  const std::map<std::string, torch::Tensor> arrays = {{"mu", torch::randn({7}, torch::kDouble)},
                                                       {"sigma", torch::randn({4, 5}, torch::kDouble)},
                                                       {"latents", torch::randn({2, 3, 4})},
                                                       {"labels", torch::randint(0, 1000, {6}, torch::kLong)},
                                                       {"pixels", torch::randint(0, 256, {3, 2}, torch::kUInt8)},
                                                       {"scalar", torch::tensor(2.5, torch::kDouble)}};
  write_npz(dir / "stats.npz", arrays);
  const auto back = read_npz(dir / "stats.npz");
  REQUIRE(back.size() == arrays.size());
  for (const auto& [name, tensor] : arrays) {
    CAPTURE(name);
    CHECK((back.at(name).scalar_type() == tensor.scalar_type()));
    CHECK(back.at(name).sizes() == tensor.sizes());
    CHECK(back.at(name).equal(tensor));
  }
}

TEST_CASE("a .npy array in Fortran order reads back in C order; bad headers and lengths are named") {
  // [[1, 2, 3], [4, 5, 6]] stored column by column.
  std::string data;
  for (int32_t v : {1, 4, 2, 5, 3, 6}) data.append(reinterpret_cast<const char*>(&v), 4);
  const torch::Tensor a = parse_npy(npy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", data), "a.npy");
  CHECK(a.equal(torch::tensor({{1, 2, 3}, {4, 5, 6}}, torch::kInt)));

  CHECK(data_error_of([&] { parse_npy("PK\x03\x04", "x.npy"); }) == "x.npy: not a .npy array (no \\x93NUMPY magic)");
  CHECK(data_error_of([&] {
          parse_npy(npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')), "x.npy");
        }).find("x.npy: arrays of type '>f8' are not read") == 0);
  CHECK(data_error_of([&] {
          parse_npy(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", std::string(40, '\0')), "x.npy");
        }) == "x.npy: its shape (2, 3) needs 48 bytes of data, the file holds 40");
  CHECK(data_error_of([&] { parse_npy(npy("{'descr': '<f8', 'fortran_order': False, }", ""), "x.npy"); }) ==
        "x.npy: its .npy header has no 'shape'");
  // No elements, but sides whose strides would overflow (found by the fuzzer).
  CHECK(data_error_of([&] {
          parse_npy(
              npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 100000000000000, 100000000000000), }", ""),
              "x.npy");
        }) == "x.npy: an array of more than 2^40 elements");
  CHECK(data_error_of([&] { parse_npy(std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "x.npy"); }) ==
        "x.npy: its .npy header is cut short");
}

TEST_CASE("npz files are read and written as numpy reads and writes them") {
  const std::string python = reference_python();
  if (python.empty() || run_command(python + " -c 'import numpy'").exit_code != 0) {
    MESSAGE("skipped: no venv Python with numpy (scripts/setup installs it)");
    return;
  }
  TempDir dir;
  // numpy writes a compressed archive (as pytorch-fid does) and the raw bytes beside it.
  const std::string script =
      "import numpy as np, sys\n"
      "r = np.random.default_rng(5)\n"
      "mu, sigma = r.normal(size=6), r.normal(size=(6, 6))\n"
      "np.savez_compressed(sys.argv[1] + '/ref.npz', mu=mu, sigma=sigma, "
      "f=np.asfortranarray(sigma.astype(np.float32)), z=np.zeros(1 << 20))\n"
      "mu.tofile(sys.argv[1] + '/mu.bin'); sigma.tofile(sys.argv[1] + '/sigma.bin')\n";
  write_file_atomic(dir / "make.py", script);
  REQUIRE(run_command(python + " " + (dir / "make.py").string() + " " + dir.path().string()).exit_code == 0);
  const auto arrays = read_npz(dir / "ref.npz");
  const std::string mu_bytes = read_file(dir / "mu.bin"), sigma_bytes = read_file(dir / "sigma.bin");
  const torch::Tensor mu = torch::from_blob(const_cast<char*>(mu_bytes.data()), {6}, torch::kDouble);
  const torch::Tensor sigma = torch::from_blob(const_cast<char*>(sigma_bytes.data()), {6, 6}, torch::kDouble);
  CHECK(arrays.at("mu").equal(mu));
  CHECK(arrays.at("sigma").equal(sigma));
  CHECK(arrays.at("f").equal(sigma.to(torch::kFloat)));
  // An entry that deflates to more than the whole file holds (8 MiB of zeros) is read...
  CHECK(std::filesystem::file_size(dir / "ref.npz") < (uint64_t(1) << 20));
  CHECK(arrays.at("z").equal(torch::zeros({1 << 20}, torch::kDouble)));
  // ...but one claiming more than deflate can make of its bytes (1032:1) is refused before inflating.
  std::string bytes = read_file(dir / "ref.npz");
  for (size_t at = bytes.find("PK\x01\x02"); at != std::string::npos; at = bytes.find("PK\x01\x02", at + 1))
    if (bytes.compare(at + 46, 5, "z.npy") == 0) bytes.replace(at + 24, 4, std::string("\xff\xff\xff\x7f", 4));
  write_file_atomic(dir / "bomb.npz", bytes);
  CHECK(data_error_of([&] { read_npz(dir / "bomb.npz"); }).find("an entry claims 2147483647 bytes from") !=
        std::string::npos);

  // genbox writes; numpy reads the same values back.
  write_npz(dir / "ours.npz", {{"mu", mu}, {"sigma", sigma}});
  write_file_atomic(dir / "check.py",
                    "import numpy as np, sys\n"
                    "d = np.load(sys.argv[1] + '/ours.npz')\n"
                    "ok = (d['mu'] == np.fromfile(sys.argv[1] + '/mu.bin')).all() and "
                    "(d['sigma'] == np.fromfile(sys.argv[1] + '/sigma.bin').reshape(6, 6)).all()\n"
                    "sys.exit(0 if ok and d['sigma'].dtype == np.float64 else 1)\n");
  CHECK(run_command(python + " " + (dir / "check.py").string() + " " + dir.path().string()).exit_code == 0);
}
