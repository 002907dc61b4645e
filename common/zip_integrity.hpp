// The integrity of a checkpoint file, checked before LibTorch reads any of it.
//
// A checkpoint is a zip archive in PyTorch's format, every entry stored uncompressed:
// archive/data.pkl (the pickled records: every key, shape and dtype, the step, counters and
// the optimizer's structure), archive/data/N (one tensor's bytes each), archive/version and a
// few more. LibTorch never checks the CRC-32s the zip directory records, so a flipped byte in a
// tensor loads as a wrong weight or a wrong Adam moment.
//
// genbox seals each archive it writes: the zip comment holds "genbox-crc32 xxxxxxxx", the CRC-32
// of every byte before the comment (entries, headers, the directory and the end record with the
// comment's length). One pass over the file then verifies all of it. When the seal does not
// match, or for an archive written before seals existed, every entry's bytes are checked
// against the CRC-32 its directory records, which names the damaged entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace genbox {

// CRC-32 (the zip and gzip polynomial, reflected) of `bytes`, continuing from `crc`.
uint32_t crc32_of(std::string_view bytes, uint32_t crc = 0);

// Appends the seal to a zip archive that has no comment yet (what LibTorch's writer produces).
void seal_zip(std::string& bytes);

// Throws DataError "SOURCE: damaged: ..." (naming the entry where one is at fault) unless the
// archive's seal matches, or, unsealed, its directory lies inside the file, every local header
// agrees with it, every entry is stored and matches its CRC-32. The directory's sizes are
// checked before anything else, since LibTorch allocates each entry at the size it claims.
void verify_zip(std::string_view bytes, const std::string& source);

}  // namespace genbox
