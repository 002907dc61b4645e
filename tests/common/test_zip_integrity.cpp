#include <doctest/doctest.h>

#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

#include <random>

#include "base/errors.hpp"
#include "common/checkpoint.hpp"
#include "common/optim.hpp"
#include "common/zip_integrity.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
// The message of the DataError verify_zip throws, or "" when it accepts the bytes.
std::string verify_error(const std::string& bytes) {
  try {
    verify_zip(bytes, "c.pt");
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

// LibTorch's own archive of a few tensors, as its writer makes it: no seal.
std::string unsealed_archive() {
  torch::manual_seed(4);
  torch::serialize::OutputArchive archive;
  archive.write("weight", torch::randn({16, 8}));
  archive.write("step", torch::tensor(int64_t(7)));
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) -> size_t {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

struct Trained {
  torch::nn::Linear model{torch::nn::LinearOptions(6, 5)};
  OptimSettings settings;
  std::unique_ptr<torch::optim::Optimizer> optimizer = make_optimizer(*model, settings);
  Ema ema{*model, 0.9};
  Trained() {
    torch::manual_seed(11);
    for (int i = 0; i < 2; ++i) {
      optimizer->zero_grad();
      model->forward(torch::randn({4, 6})).square().mean().backward();
      optimizer->step();
      ema.update(*model);
    }
  }
};
}  // namespace

TEST_CASE("crc32_of agrees with zlib's CRC-32 at every length and split") {
  std::mt19937 random(3);
  std::string bytes(5000, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  for (size_t n : {0, 1, 7, 15, 16, 63, 64, 65, 255, 256, 1000, 4999, 5000}) {
    const std::string_view part(bytes.data(), n);
    const auto expected = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), n));
    CHECK(crc32_of(part) == expected);
    CHECK(crc32_of(part.substr(n / 3), crc32_of(part.substr(0, n / 3))) == expected);
  }
  CHECK(crc32_of("123456789") == 0xcbf43926u);  // the CRC-32 check value
  // Large inputs are split over the cores and the parts' CRCs joined: an odd length, so the
  // last part is longer than the others.
  std::string large(3 * (8 << 20) + 5, '\0');
  for (size_t i = 0; i < large.size(); i += 61) large[i] = static_cast<char>(random());
  CHECK(crc32_of(large) == static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(large.data()), large.size())));
  CHECK(crc32_of(large, 0x1234u) ==
        static_cast<uint32_t>(crc32(0x1234u, reinterpret_cast<const Bytef*>(large.data()), large.size())));
}

TEST_CASE("a sealed archive verifies, and so does LibTorch's own unsealed one") {
  std::string bytes = unsealed_archive();
  CHECK(verify_error(bytes).empty());
  const size_t unsealed_size = bytes.size();
  seal_zip(bytes);
  CHECK(bytes.size() == unsealed_size + 21);
  CHECK(bytes.substr(unsealed_size, 13) == "genbox-crc32 ");
  CHECK(verify_error(bytes).empty());
  // LibTorch still reads the sealed archive: the seal is a zip comment.
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  torch::Tensor step;
  archive.read("step", step);
  CHECK(step.item<int64_t>() == 7);
}

TEST_CASE("every single flipped byte of a sealed checkpoint is found, and a damaged entry is named") {
  TempDir dir;
  Trained t;
  save_checkpoint(dir / "c.pt", *t.model, &t.ema, t.optimizer.get(), {2, 8, 0.5, {}});
  const std::string bytes = read_text(dir / "c.pt");
  REQUIRE(verify_error(bytes).empty());
  std::vector<std::pair<uint64_t, uint64_t>> tensor_data;  // [begin, end) of each tensor record
  for (const CheckpointRecord& record : checkpoint_records(dir / "c.pt"))
    if (record.name.rfind("data/", 0) == 0) tensor_data.emplace_back(record.offset, record.offset + record.size);
  REQUIRE(tensor_data.size() > 5);
  int named = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] ^= 0x01;
    const std::string error = verify_error(damaged);
    CAPTURE(i);
    REQUIRE(error.rfind("c.pt: ", 0) == 0);
    const bool in_tensor = std::any_of(tensor_data.begin(), tensor_data.end(),
                                       [&](const auto& span) { return i >= span.first && i < span.second; });
    if (in_tensor) {
      CHECK(error.find("(a tensor's bytes) does not match its CRC-32") != std::string::npos);
      ++named;
    }
  }
  CHECK(named > 100);
}

TEST_CASE("an unsealed archive's entries are checked against their own CRC-32s") {
  std::string bytes = unsealed_archive();
  TempDir dir;
  write_text(dir / "c.pt", bytes);
  const CheckpointRecord pickle = record_named(dir / "c.pt", "data.pkl");
  for (const CheckpointRecord& record : checkpoint_records(dir / "c.pt")) {
    CAPTURE(record.name);
    std::string damaged = bytes;
    damaged[record.offset + record.size / 2] ^= 0x10;
    CHECK(verify_error(damaged) ==
          fmt::format("c.pt: damaged: entry 'archive/{}'{} does not match its CRC-32", record.name,
                      record.name == pickle.name           ? " (the pickled records: keys, shapes, step and counters)"
                      : record.name.rfind("data/", 0) == 0 ? " (a tensor's bytes)"
                                                           : ""));
  }
}

TEST_CASE("damage outside the entries is found by the seal") {
  std::string bytes = unsealed_archive();
  seal_zip(bytes);
  // The first local header's modification time: no entry's CRC covers it, the seal does.
  std::string damaged = bytes;
  damaged[10] ^= 0x04;
  CHECK(verify_error(damaged) == "c.pt: damaged: its zip headers do not match the CRC-32 sealed in the file");
  damaged = bytes;
  damaged[bytes.size() - 1] = damaged[bytes.size() - 1] == '0' ? '1' : '0';
  CHECK(verify_error(damaged) == "c.pt: damaged: its zip headers do not match the CRC-32 sealed in the file");
  damaged = bytes;
  damaged[bytes.size() - 3] = 'g';
  CHECK(verify_error(damaged) == "c.pt: damaged: its zip comment is not genbox's seal");
  CHECK(verify_error(bytes.substr(0, bytes.size() - 1)).find("c.pt: damaged: the zip end record") == 0);
  CHECK(verify_error(bytes + "x").find("c.pt: damaged: the zip end record") == 0);
}

TEST_CASE("random damage to a checkpoint never loads: the property, through load_checkpoint") {
  TempDir dir;
  Trained t;
  save_checkpoint(dir / "c.pt", *t.model, &t.ema, t.optimizer.get(), {2, 8, 0.5, {}});
  const std::string bytes = read_text(dir / "c.pt");
  std::mt19937_64 random(2026);
  for (int trial = 0; trial < 300; ++trial) {
    std::string damaged = bytes;
    const int flips = 1 + int(random() % 8);
    for (int f = 0; f < flips; ++f) damaged[random() % damaged.size()] ^= static_cast<char>(1 + random() % 255);
    if (damaged == bytes) continue;
    write_text(dir / "d.pt", damaged);
    Trained fresh;
    CAPTURE(trial);
    CHECK_THROWS_AS(load_checkpoint(dir / "d.pt", *fresh.model, &fresh.ema, fresh.optimizer.get(), false), DataError);
    CHECK_THROWS_AS(load_weights(dir / "d.pt", *fresh.model, true), DataError);
  }
}
