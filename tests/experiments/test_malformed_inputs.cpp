// A corpus of malformed inputs (169 of them) against the programs as a user runs them: command lines, config
// files, IDX and COCO data, run directories and checkpoints. Every case must end with its
// documented exit code and a message naming what is at fault, never a crash (abort, segfault),
// a stack trace or a hang; and a failed resume leaves the run directory as it was, byte for byte.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "common/data/idx.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
const std::string kToy =
    " data.dataset=two_moons data.toy_size=500 model.hidden=8 model.hidden_layers=1 train.batch_size=50"
    " device.threads=1 train.sample_every=0 optim.ema_decay=0.9";

void write_gzip(const std::filesystem::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::string idx_header(std::vector<int64_t> dims, uint8_t type = 8) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (int64_t n : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  return out;
}

// An IDX image set under dir whose test images file holds `images` bytes (labels made to fit
// when `labels` is empty).
void write_set(const std::filesystem::path& dir, const std::string& images, std::string labels = "") {
  std::filesystem::create_directories(dir);
  write_text(dir / "t10k-images-idx3-ubyte", images);
  write_text(dir / "train-images-idx3-ubyte", images);
  if (labels.empty()) labels = idx_header({2}) + std::string(2, '\1');
  write_text(dir / "t10k-labels-idx1-ubyte", labels);
  write_text(dir / "train-labels-idx1-ubyte", labels);
}

// A COCO annotation file and images directory under dir/annotations, dir/val2017.
void write_coco(const std::filesystem::path& dir, const std::string& json) {
  std::filesystem::create_directories(dir / "annotations");
  std::filesystem::create_directories(dir / "val2017");
  write_text(dir / "annotations/instances_val2017.json", json);
  write_text(dir / "annotations/instances_train2017.json", json);
}

std::string nested(int depth, char open, char close) { return std::string(depth, open) + std::string(depth, close); }

// Every file under a directory with its bytes: what "byte for byte as it was" compares. The
// lock file is left out: it notes who last held the run, which a refused resume may update.
std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename() != ".lock")
      files[entry.path().lexically_relative(dir).string()] = read_text(entry.path());
  return files;
}

struct Case {
  std::string name;
  std::function<std::string(const std::filesystem::path& dir, const std::filesystem::path& run)> command;
  int exit_code;
  std::string message;  // a part of the output that names the fault
};

// Damages bytes of a file in place, `count` bytes from `from` bytes before its end.
void flip_bytes(const std::filesystem::path& path, size_t from_end, size_t count) {
  std::string bytes = read_text(path);
  for (size_t i = 0; i < count && i < from_end; ++i) bytes[bytes.size() - from_end + i] ^= 0x5a;
  write_text(path, bytes);
}

// Flips one byte in the middle of the first tensor of `group` ("model/", "ema/", "optimizer/",
// "rng/") in a checkpoint, or of its pickled records when group is "data.pkl".
void flip_entry(const std::filesystem::path& path, const std::string& group) {
  CheckpointRecord record;
  if (group == "data.pkl") {
    record = record_named(path, group);
  } else {
    torch::Tensor chosen;
    for (const auto& [key, tensor] : all_checkpoint_tensors(path))
      if (key.rfind(group, 0) == 0 && tensor.numel() > 1) {
        chosen = tensor;
        break;
      }
    if (!chosen.defined()) throw std::runtime_error(path.string() + ": no tensor under " + group);
    record = record_holding(path, chosen);
  }
  flip_in_record(path, record, record.size / 2);
}
}  // namespace

TEST_CASE("malformed inputs end with their exit code and a message naming the fault, never a crash") {
  TempDir base;
  // One finished toy run, copied afresh for every case that damages it.
  auto trained = run_command(binary("nice") + " train" + kToy + " train.steps=4 train.eval_every=2" +
                             " train.keep_checkpoints=2 run.out_dir=" + (base / "template").string());
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  const std::filesystem::path template_run = only_run(base / "template", "nice");
  const std::string nice = binary("nice"), detr = binary("detr"), rf = binary("rf_dit"), compare = binary("compare");
  const std::string big = std::string(300, 'a');

  std::vector<Case> cases = {
      // The command line.
      {"no command", [&](auto, auto) { return nice; }, 2, "missing command"},
      {"unknown command", [&](auto, auto) { return nice + " fly"; }, 2, "fly"},
      {"--resume without a directory", [&](auto, auto) { return nice + " train --resume"; }, 2, "--resume"},
      {"sample without a run", [&](auto, auto) { return nice + " sample"; }, 2, "needs a RUN_DIR"},
      {"--n 0", [&](auto, auto r) { return nice + " sample " + r.string() + " --n 0"; }, 2,
       "an integer in [1, 100000]"},
      {"--n -3", [&](auto, auto r) { return nice + " sample " + r.string() + " --n -3"; }, 2,
       "an integer in [1, 100000]"},
      {"--n words", [&](auto, auto r) { return nice + " sample " + r.string() + " --n many"; }, 2, "'many'"},
      {"-c names a directory", [&](auto d, auto) { return nice + " train -c " + d.string(); }, 2, "is a directory"},
      {"-c names nothing", [&](auto d, auto) { return nice + " train -c " + (d / "absent.toml").string(); }, 2,
       "absent.toml"},
      {"run.name of 300 characters", [&](auto, auto) { return nice + " train run.name=" + big; }, 2, "run.name"},
      {"run.name with a slash", [&](auto, auto) { return nice + " train run.name=a/b"; }, 2, "run.name"},
      // printf writes the raw bytes: /bin/sh has no $'...'.
      {"run.name with a control character",
       [&](auto, auto) { return nice + " train \"$(printf 'run.name=a\\001b')\""; }, 2, "\\x01"},
      {"run.name of invalid UTF-8", [&](auto, auto) { return nice + " train \"$(printf 'run.name=a\\377b')\""; }, 2,
       "UTF-8"},
      {"an override of invalid UTF-8", [&](auto, auto) { return nice + " train \"$(printf 'data.root=\\303')\""; }, 2,
       "UTF-8"},
      {"run.out_dir names a file",
       [&](auto d, auto) {
         write_text(d / "file", "x");
         return nice + " train run.out_dir=" + (d / "file").string();
       },
       2, "is a file"},
      {"an unknown key", [&](auto, auto) { return nice + " train train.setps=3"; }, 2, "did you mean 'train.steps'"},
      {"zero steps", [&](auto, auto) { return nice + " train train.steps=0"; }, 2, "train.steps"},
      {"a float for an integer", [&](auto, auto) { return nice + " train train.steps=1.5"; }, 2, "train.steps"},
      {"an unknown choice", [&](auto, auto) { return nice + " train model.prior=cauchy"; }, 2, "model.prior"},
      {"a huge integer", [&](auto, auto) { return nice + " train train.steps=99999999999999999999999"; }, 2,
       "train.steps"},
      {"an empty backbone", [&](auto, auto) { return detr + " train model.backbone_channels=[]"; }, 2,
       "backbone_channels"},
      {"min above max", [&](auto, auto) { return detr + " train data.min_objects=5 data.max_objects=2"; }, 2,
       "min_objects"},
      {"heads not dividing width", [&](auto, auto) { return detr + " train model.width=30 model.heads=4"; }, 2,
       "heads"},
      {"an empty eval sweep", [&](auto, auto) { return rf + " train eval.steps=[]"; }, 2, "eval.steps"},
      // Config files.
      {"TOML syntax",
       [&](auto d, auto) {
         write_text(d / "c.toml", "[train\nsteps = 3\n");
         return nice + " train -c " + (d / "c.toml").string();
       },
       2, "c.toml"},
      {"a wrong type in a file",
       [&](auto d, auto) {
         write_text(d / "c.toml", "[train]\nsteps = \"many\"\n");
         return nice + " train -c " + (d / "c.toml").string();
       },
       2, "c.toml:2"},
      {"an unknown table",
       [&](auto d, auto) {
         write_text(d / "c.toml", "[trian]\nsteps = 3\n");
         return nice + " train -c " + (d / "c.toml").string();
       },
       2, "trian"},
      {"binary garbage as a config",
       [&](auto d, auto) {
         write_text(d / "c.toml", std::string("\x00\xff\xfe\x01[[", 6));
         return nice + " train -c " + (d / "c.toml").string();
       },
       2, "c.toml"},
      {"deeply nested TOML arrays",
       [&](auto d, auto) {
         write_text(d / "c.toml", "[train]\nsteps = " + nested(5000, '[', ']') + "\n");
         return nice + " train -c " + (d / "c.toml").string();
       },
       2, "c.toml"},
      {"a TOML inline table for a number",
       [&](auto d, auto) {
         write_text(d / "c.toml", "[train]\nsteps = { a = 1 }\n");
         return nice + " train -c " + (d / "c.toml").string();
       },
       2, "train.steps"},
      // IDX data.
      {"no IDX files", [&](auto d, auto) { return nice + " train data.dataset=idx data.root=" + d.string(); }, 3,
       "no such file"},
      {"zero images",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({0, 28, 28}), idx_header({0}));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "holds no images"},
      {"1 x 1 images",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({2, 1, 1}) + std::string(2, '\7'));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "1 x 1"},
      {"a truncated header",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({2, 28, 28}).substr(0, 9));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "truncated"},
      {"a bad magic number",
       [&](auto d, auto) {
         write_set(d / "s", "GIF89a" + std::string(20, '\0'));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "not an IDX file"},
      {"a header claiming 2^96 elements",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({0xffffffff, 0xffffffff, 0xffffffff}));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "corrupt"},
      {"a tiny gzip claiming gigabytes",
       [&](auto d, auto) {
         std::filesystem::create_directories(d / "s");
         write_gzip(d / "s/t10k-images-idx3-ubyte.gz", idx_header({60000, 200, 200}) + std::string(10, '\1'));
         write_gzip(d / "s/t10k-labels-idx1-ubyte.gz", idx_header({60000}));
         return "ulimit -v 4000000; " + nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "compressed bytes can hold"},
      {"labels that do not match",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({2, 4, 4}) + std::string(32, '\3'), idx_header({3}) + std::string(3, '\1'));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "3 labels for 2 images"},
      {"corrupt gzip",
       [&](auto d, auto) {
         std::filesystem::create_directories(d / "s");
         write_text(d / "s/t10k-images-idx3-ubyte.gz", std::string("\x1f\x8b\x08\x00garbagegarbage", 18));
         write_text(d / "s/t10k-labels-idx1-ubyte.gz", std::string("\x1f\x8b\x08\x00garbagegarbage", 18));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "t10k-images"},
      {"an IDX of floats",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({2, 4, 4}, 0x0d) + std::string(128, '\0'));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "not supported"},
      {"IDX data past its header",
       [&](auto d, auto) {
         write_set(d / "s", idx_header({2, 4, 4}) + std::string(40, '\3'));
         return nice + " train data.dataset=idx data.root=" + (d / "s").string();
       },
       3, "data continues"},
      // COCO data.
      {"no COCO annotations", [&](auto d, auto) { return detr + " train data.source=coco data.root=" + d.string(); }, 3,
       "instances_val2017.json"},
      {"COCO that is not JSON",
       [&](auto d, auto) {
         write_coco(d / "c", "{images: oops");
         return detr + " train data.source=coco data.root=" + (d / "c").string();
       },
       3, "not valid JSON"},
      {"COCO as a JSON array",
       [&](auto d, auto) {
         write_coco(d / "c", "[1, 2]");
         return detr + " train data.source=coco data.root=" + (d / "c").string();
       },
       3, "JSON object"},
      {"COCO without categories",
       [&](auto d, auto) {
         write_coco(d / "c", R"({"images": [], "annotations": [], "categories": []})");
         return detr + " train data.source=coco data.root=" + (d / "c").string();
       },
       3, "no categories"},
      {"COCO nested 100000 deep",
       [&](auto d, auto) {
         write_coco(d / "c", "{\"images\": " + nested(100000, '[', ']') + "}");
         return detr + " train data.source=coco data.root=" + (d / "c").string();
       },
       3, "nested deeper"},
      {"COCO naming a missing image",
       [&](auto d, auto) {
         write_coco(d / "c", R"({"images": [{"id": 1, "file_name": "absent.png", "width": 8, "height": 8}],
                                 "annotations": [], "categories": [{"id": 1, "name": "x"}]})");
         return detr + " train data.source=coco data.root=" + (d / "c").string();
       },
       3, "absent.png"},
      {"COCO with a string for a box",
       [&](auto d, auto) {
         write_coco(d / "c", R"({"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                                 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": "wide"}],
                                 "categories": [{"id": 1, "name": "x"}]})");
         return detr + " train data.source=coco data.root=" + (d / "c").string();
       },
       3, "bbox"},
      // Run directories and checkpoints.
      {"eval of a directory that is not a run", [&](auto d, auto) { return nice + " eval " + d.string(); }, 2,
       "not a run directory"},
      {"eval with a corrupt meta.json",
       [&](auto, auto r) {
         write_text(r / "meta.json", "{\"status\": ");
         return nice + " eval " + r.string();
       },
       3, "meta.json"},
      {"eval without meta.json",
       [&](auto, auto r) {
         std::filesystem::remove(r / "meta.json");
         return nice + " eval " + r.string();
       },
       3, "no meta.json"},
      {"eval of a checkpoint with flipped bytes",
       [&](auto, auto r) {
         for (const char* name : {"best.pt", "last.pt"}) flip_bytes(r / "checkpoints" / name, 2000, 16);
         return nice + " eval " + r.string();
       },
       3, "checkpoints/best.pt"},
      {"eval of a truncated checkpoint",
       [&](auto, auto r) {
         std::string bytes = read_text(r / "checkpoints/best.pt");
         write_text(r / "checkpoints/best.pt", bytes.substr(0, bytes.size() / 2));
         return nice + " eval " + r.string();
       },
       3, "best.pt"},
      {"eval without checkpoints",
       [&](auto, auto r) {
         std::filesystem::remove_all(r / "checkpoints");
         return nice + " eval " + r.string();
       },
       3, "no such checkpoint"},
      {"a checkpoint of another model", [&](auto, auto r) { return nice + " eval " + r.string() + " model.hidden=16"; },
       3, "shape"},
      {"resume changing the model's shape",
       [&](auto, auto r) { return nice + " train --resume " + r.string() + " model.hidden=16"; }, 2,
       "model.hidden cannot change on --resume"},
      {"resume with a corrupt meta.json",
       [&](auto, auto r) {
         write_text(r / "meta.json", "not json");
         return nice + " train --resume " + r.string() + " train.steps=8";
       },
       3, "meta.json"},
      {"resume while another process trains the run",
       [&](auto, auto r) {
         write_text(r / ".lock", "pid 1 on elsewhere");
         // The shell holds the lock (flock on descriptor 9) while the resume runs.
         return "exec 9>>" + (r / ".lock").string() + "; flock -n 9 && " + nice + " train --resume " + r.string() +
                " train.steps=8";
       },
       2, "is in use by"},
      {"resume with every checkpoint damaged",
       [&](auto, auto r) {
         for (const auto& e : std::filesystem::directory_iterator(r / "checkpoints")) flip_bytes(e.path(), 2000, 16);
         return nice + " train --resume " + r.string() + " train.steps=8";
       },
       3, "no intact numbered checkpoint"},
      {"resume with a damaged optimizer state in last.pt",
       [&](auto, auto r) {
         flip_entry(r / "checkpoints/last.pt", "optimizer/");
         return nice + " train --resume " + r.string() + " train.steps=6";
       },
       0, "checkpoints/last.pt: damaged: entry 'archive/data/"},
      {"resume falls back past a damaged last.pt to the newest intact numbered checkpoint",
       [&](auto, auto r) {
         flip_entry(r / "checkpoints/last.pt", "rng/");
         return nice + " train --resume " + r.string() + " train.steps=6";
       },
       0, "checkpoints/step_0000004.pt, the newest intact checkpoint"},
      {"resume with last.pt a directory",
       [&](auto, auto r) {
         std::filesystem::remove(r / "checkpoints/last.pt");
         std::filesystem::create_directory(r / "checkpoints/last.pt");
         return nice + " train --resume " + r.string() + " train.steps=6";
       },
       3, "last.pt: is a directory, not a file; the resume would write it: move it away first"},
      {"resume with the pickled records of every checkpoint damaged",
       [&](auto, auto r) {
         for (const auto& e : std::filesystem::directory_iterator(r / "checkpoints")) flip_entry(e.path(), "data.pkl");
         return nice + " train --resume " + r.string() + " train.steps=8";
       },
       3, "(the pickled records: keys, shapes, step and counters) does not match its CRC-32"},
      {"resume with a meta.json whose step is a string",
       [&](auto, auto r) {
         nlohmann::json meta = nlohmann::json::parse(read_text(r / "meta.json"));
         meta["step"] = "four";
         write_text(r / "meta.json", meta.dump());
         return nice + " train --resume " + r.string() + " train.steps=8";
       },
       3, "meta.json: \"step\" must be a whole number >= 0, not a string"},
      {"eval with a meta.json whose resumed is an object",
       [&](auto, auto r) {
         nlohmann::json meta = nlohmann::json::parse(read_text(r / "meta.json"));
         meta["resumed"] = {{"a", 1}};
         write_text(r / "meta.json", meta.dump());
         return nice + " eval " + r.string();
       },
       3, "meta.json: \"resumed\" must be an array, not an object"},
      {"eval with best.pt a directory",
       [&](auto, auto r) {
         std::filesystem::remove(r / "checkpoints/best.pt");
         std::filesystem::create_directory(r / "checkpoints/best.pt");
         return nice + " eval " + r.string();
       },
       3, "best.pt: is a directory, not a file"},
      // compare reads whatever it is given.
      {"compare of a metrics.jsonl that is a directory",
       [&](auto, auto r) {
         std::filesystem::remove(r / "metrics.jsonl");
         std::filesystem::create_directory(r / "metrics.jsonl");
         return compare + " " + r.string();
       },
       0, "metrics.jsonl: is a directory, not a file"},
      {"compare of a meta.json that is a directory",
       [&](auto, auto r) {
         std::filesystem::remove(r / "meta.json");
         std::filesystem::create_directory(r / "meta.json");
         return compare + " " + r.string();
       },
       3, "meta.json: is a directory, not a file"},
      {"compare of a deeply nested eval.json",
       [&](auto, auto r) {
         write_text(r / "eval.json", "{\"a\": " + nested(100000, '[', ']') + "}");
         return compare + " " + r.string();
       },
       0, "nested deeper"},
      {"compare of binary metrics",
       [&](auto, auto r) {
         write_text(r / "metrics.jsonl", std::string("\x00\x01{\"step\":\xff}\n\x80", 14));
         return compare + " " + r.string();
       },
       0, "nice"},
      {"compare of a file", [&](auto, auto r) { return compare + " " + (r / "config.toml").string(); }, 3,
       "not a directory"},
  };

  // A flipped byte in each kind of entry of best.pt, for every command that reads a checkpoint:
  // refused, naming the file and the entry.
  const std::vector<std::pair<std::string, std::string>> commands_reading_checkpoints = {
      {"eval", ""}, {"sample", ""}, {"inpaint", ""}, {"export", " --safetensors out.safetensors"}};
  for (const char* group : {"model/", "ema/", "optimizer/", "rng/", "data.pkl"})
    for (const auto& [command, extra] : commands_reading_checkpoints)
      cases.push_back({std::string("nice ") + command + " of best.pt with damaged " + group,
                       [&, group, command = command, extra = extra](auto, auto r) {
                         flip_entry(r / "checkpoints/best.pt", group);
                         return nice + " " + command + " " + r.string() + extra;
                       },
                       3, "checkpoints/best.pt: damaged: entry 'archive/"});
  cases.push_back({"detr train with a COCO file that is a directory",
                   [&](auto d, auto) {
                     std::filesystem::create_directories(d / "c/annotations/instances_train2017.json");
                     std::filesystem::create_directories(d / "c/annotations/instances_val2017.json");
                     std::filesystem::create_directories(d / "c/train2017");
                     return detr + " train data.source=coco data.root=" + (d / "c").string();
                   },
                   3, "2017.json: is a directory, not a file"});
  cases.push_back({"nice train on a CIFAR-10 batch of the wrong length",
                   [&](auto d, auto) {
                     write_tiny_cifar10(d / "cifar");
                     write_text(d / "cifar/data_batch_3.bin", read_text(d / "cifar/data_batch_3.bin") + "xyz");
                     return nice + " train data.dataset=cifar10 data.root=" + (d / "cifar").string();
                   },
                   3, "data_batch_3.bin: 24587 bytes is not a whole number of 3073-byte records"});
  cases.push_back({"rf_dit train on a CIFAR-100 folder without its files",
                   [&](auto d, auto) { return rf + " train data.dataset=cifar100 data.root=" + d.string(); }, 3,
                   "cifar-100-binary/test.bin: no such file; point data.root at the folder of the CIFAR-100"});
  cases.push_back({"rf_dit train on an empty folder",
                   [&](auto d, auto) {
                     std::filesystem::create_directories(d / "photos");
                     return rf + " train data.dataset=folder data.root=" + (d / "photos").string();
                   },
                   3, "photos: no images under it"});
  cases.push_back({"nice train on a folder with a truncated PNG and a text file named .jpg",
                   [&](auto d, auto) {
                     std::filesystem::create_directories(d / "photos");
                     write_text(d / "photos/a.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16));
                     write_text(d / "photos/b.jpg", "not a jpeg");
                     write_text(d / "photos/c.jpg", "not a jpeg either");
                     return nice + " train data.dataset=folder data.root=" + (d / "photos").string() +
                            " data.test_fraction=0.4 data.image_size=8";
                   },
                   3, "cannot be used"});
  cases.push_back({"nice train with an IDX file that is a directory",
                   [&](auto d, auto) {
                     write_set(d / "s", idx_header({2, 4, 4}) + std::string(32, '\5'));
                     std::filesystem::remove(d / "s/train-images-idx3-ubyte");
                     std::filesystem::create_directory(d / "s/train-images-idx3-ubyte");
                     return nice + " train data.dataset=idx data.root=" + (d / "s").string();
                   },
                   3, "train-images-idx3-ubyte"});

  // Generated families: every program against the same kinds of bad override, and an IDX
  // image file cut at every offset of its header and into its data.
  const std::vector<std::pair<std::string, std::string>> bad_overrides = {
      {"train.steps=-1", "train.steps"},
      {"train.batch_size=0", "train.batch_size"},
      {"train.batch_size=\"big\"", "train.batch_size"},
      {"optim.lr=-0.1", "optim.lr"},
      {"optim.lr=nan", "optim.lr"},
      {"optim.lr=inf", "optim.lr"},
      {"optim.name=sgd", "optim.name"},
      {"optim.beta2=1.5", "optim.beta2"},
      {"device.device=tpu", "device.device"},
      {"device.device=cuda:x", "device.device"},
      {"device.precision=fp8", "device.precision"},
      {"device.threads=-2", "device.threads"},
      {"run.seed=-5", "run.seed"},
      {"run.name=\"\"", "run.name"},
      {"distributed.backend=mpi", "distributed.backend"},
      {"distributed.timeout_s=0", "distributed.timeout_s"},
      {"train=3", "train"},
      {"=3", "expected key.path=value"},
      {"train.steps", "unexpected argument 'train.steps'"},
      {"train.steps=[1,2]", "train.steps"},
  };
  for (const std::string& program : {nice, rf, detr})
    for (const auto& [override_text, message] : bad_overrides)
      cases.push_back({program.substr(program.rfind('/') + 1) + " " + override_text,
                       [program = program, o = override_text](auto, auto) { return program + " train " + o; }, 2,
                       message});
  const std::string header = idx_header({2, 4, 4});
  for (size_t cut = 1; cut < header.size() + 8; cut += 2)
    cases.push_back({"IDX images cut at byte " + std::to_string(cut),
                     [&, cut](auto d, auto) {
                       write_set(d / "s", (header + std::string(32, '\5')).substr(0, cut));
                       return nice + " train data.dataset=idx data.root=" + (d / "s").string();
                     },
                     3, "t10k-images-idx3-ubyte"});

  int index = 0;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    TempDir dir;
    std::filesystem::path run = dir / "run";
    std::filesystem::copy(template_run, run, std::filesystem::copy_options::recursive);
    std::string command = c.command(dir.path(), run);
    const auto before = snapshot(run);
    CommandResult result = run_command("cd " + dir.path().string() + " && (" + command + ")");
    INFO(command);
    INFO(result.output);
    CHECK(result.exit_code == c.exit_code);
    CHECK(result.output.find(c.message) != std::string::npos);
    // Never a LibTorch backtrace, never a crash report.
    CHECK(result.output.find("Exception raised from") == std::string::npos);
    CHECK(result.output.find("terminate called") == std::string::npos);
    // A failed resume leaves the run as it was.
    if (command.find("--resume") != std::string::npos && result.exit_code != 0) CHECK(snapshot(run) == before);
    ++index;
  }
  MESSAGE(index << " malformed inputs checked");
}
