#include "metrics/fid_settings.hpp"

namespace genbox::metrics {

std::filesystem::path FidSettings::cache() const {
  if (cache_dir == "none") return {};
  return cache_dir.empty() ? default_fid_cache_dir() : std::filesystem::path(cache_dir);
}

void describe(Schema& s, FidSettings& fid) {
  s.add("fid.weights", fid.weights,
        "FID Inception weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth as safetensors "
        "(bench/convert_inception.py); \"\": ~/.cache/genbox/pt_inception-2015-12-05-6726825d.safetensors");
  s.add_choice("fid.input", fid.input, {"tf", "pytorch", "clean"},
               "input convention: tf (TTUR, torch-fidelity, EDM: papers' CIFAR FIDs), pytorch (pytorch-fid), "
               "clean (clean-fid)");
  s.add("fid.batch_size", fid.batch_size, 1, 100000, "images per Inception forward pass");
  s.add("fid.kid_subsets", fid.kid_subsets, 1, 100000, "KID: random subsets averaged");
  s.add("fid.kid_subset_size", fid.kid_subset_size, 2, 1000000, "KID: images per subset (fewer if a set is smaller)");
  s.add("fid.neighbours", fid.neighbours, 1, 1000, "precision/recall: k of the k-nearest-neighbour balls");
  s.add("fid.cache_dir", fid.cache_dir,
        "reference features, keyed by the images' content; \"\": ~/.cache/genbox/fid; \"none\": not kept");
}

}  // namespace genbox::metrics
