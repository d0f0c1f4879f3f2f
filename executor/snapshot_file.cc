// Snapshot files. The only translation unit that includes the generated FlatBuffers code for
// executor/snapshot.fbs; everything else sees executor/snapshot_file.h.
#include "executor/snapshot_file.h"

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/crc32c.h"
#include "core/atomic_file.h"
#include "executor/snapshot_generated.h"

namespace apprentice {
namespace {

constexpr char kMagic[4] = {'A', 'P', 'S', 'N'};

static_assert(static_cast<uint8_t>(fb::HeadKind::Categorical) ==
              static_cast<uint8_t>(HeadKind::kCategorical));
static_assert(static_cast<uint8_t>(fb::HeadKind::Gaussian) ==
              static_cast<uint8_t>(HeadKind::kGaussian));
static_assert(static_cast<uint8_t>(fb::Activation::Relu) ==
              static_cast<uint8_t>(Activation::kRelu));
static_assert(static_cast<uint8_t>(fb::Activation::Tanh) ==
              static_cast<uint8_t>(Activation::kTanh));
static_assert(kMaxSnapshotFileBytes <= FLATBUFFERS_MAX_BUFFER_SIZE);

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

std::string Hex(uint32_t v) {
  char s[11];
  std::snprintf(s, sizeof s, "0x%08X", v);
  return s;
}

std::string StringOrEmpty(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// InvalidArgument when the FlatBuffer for `snapshot` could exceed what a file may hold (2 GiB:
// half a billion parameters, far beyond any executor network).
Status CheckEncodable(const Snapshot& snapshot, const SnapshotFileInfo& info) {
  const uint64_t bound = kSnapshotFileHeaderSize + 4096 + snapshot.params().size() * sizeof(float) +
                         snapshot.spec().hidden.size() * sizeof(int64_t) + info.env.size() +
                         info.observation_space.size() + info.action_space.size() +
                         info.note.size();
  if (bound > kMaxSnapshotFileBytes) {
    return Status::InvalidArgument(
        "a snapshot of " + std::to_string(snapshot.params().size()) +
        " parameters with its metadata does not fit in a snapshot file (" +
        std::to_string(kMaxSnapshotFileBytes) + " bytes at most)");
  }
  return Status::Ok();
}

}  // namespace

std::vector<uint8_t> EncodeSnapshotFile(const Snapshot& snapshot, const SnapshotFileInfo& info) {
  RequireOk(CheckEncodable(snapshot, info));
  const MlpSpec& spec = snapshot.spec();
  flatbuffers::FlatBufferBuilder fbb(1024 + snapshot.params().size() * sizeof(float));
  const auto hidden = fbb.CreateVector(spec.hidden);
  const auto fb_spec =
      fb::CreateMlpSpec(fbb, spec.input, hidden, spec.actions, static_cast<fb::HeadKind>(spec.head),
                        static_cast<fb::Activation>(spec.activation));
  const auto params = fbb.CreateVector(snapshot.params());
  const auto env = fbb.CreateString(info.env);
  const auto observation_space = fbb.CreateString(info.observation_space);
  const auto action_space = fbb.CreateString(info.action_space);
  const auto note = fbb.CreateString(info.note);
  fb::FinishSnapshotFileBuffer(
      fbb, fb::CreateSnapshotFile(fbb, fb_spec, snapshot.version(), params, env, observation_space,
                                  action_space, note));
  const std::span<const uint8_t> body(fbb.GetBufferPointer(), fbb.GetSize());

  std::vector<uint8_t> file(kSnapshotFileHeaderSize + body.size());
  std::memcpy(file.data(), kMagic, sizeof kMagic);
  PutU32(file.data() + 4, kSnapshotFileFormatVersion);
  PutU32(file.data() + 8, static_cast<uint32_t>(body.size()));
  PutU32(file.data() + 12, Crc32c(body));
  std::memcpy(file.data() + kSnapshotFileHeaderSize, body.data(), body.size());
  return file;
}

Result<LoadedSnapshot> DecodeSnapshotFile(std::span<const uint8_t> bytes) {
  // The header: magic, version, length, checksum. Nothing of the body is read before they pass.
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Status::InvalidArgument("not an apprentice snapshot file (no \"APSN\" magic)");
  }
  if (bytes.size() < kSnapshotFileHeaderSize) {
    return Status::DataLoss("truncated: " + std::to_string(bytes.size()) +
                            " bytes, less than the " + std::to_string(kSnapshotFileHeaderSize) +
                            "-byte header");
  }
  if (bytes.size() > kMaxSnapshotFileBytes) {
    return Status::DataLoss(std::to_string(bytes.size()) +
                            " bytes is larger than any snapshot file");
  }
  const uint32_t format_version = GetU32(bytes.data() + 4);
  if (format_version != kSnapshotFileFormatVersion) {
    return Status::InvalidArgument("snapshot file format version " +
                                   std::to_string(format_version) + "; this build reads version " +
                                   std::to_string(kSnapshotFileFormatVersion));
  }
  const uint64_t length = GetU32(bytes.data() + 8);
  const uint64_t body_size = bytes.size() - kSnapshotFileHeaderSize;
  if (length != body_size) {
    return Status::DataLoss(std::string(body_size < length ? "truncated" : "trailing bytes") +
                            ": the header announces " + std::to_string(length) +
                            " bytes of FlatBuffer, the file holds " + std::to_string(body_size));
  }
  std::span<const uint8_t> body = bytes.subspan(kSnapshotFileHeaderSize);
  const uint32_t stored_crc = GetU32(bytes.data() + 12);
  const uint32_t crc = Crc32c(body);
  if (crc != stored_crc) {
    return Status::DataLoss("checksum mismatch (stored " + Hex(stored_crc) + ", computed " +
                            Hex(crc) + "): the file is damaged");
  }

  // FlatBuffers reads 8-byte scalars in place, so the body must be 8-byte aligned (it is when
  // the caller's buffer comes from the heap; copy otherwise).
  std::vector<uint64_t> aligned;
  if (reinterpret_cast<uintptr_t>(body.data()) % alignof(uint64_t) != 0) {
    aligned.resize((body.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(aligned.data(), body.data(), body.size());
    body = {reinterpret_cast<const uint8_t*>(aligned.data()), body.size()};
  }
  flatbuffers::Verifier verifier(body.data(), body.size());
  if (!fb::VerifySnapshotFileBuffer(verifier)) {
    return Status::DataLoss(
        "the FlatBuffer fails verification (not a SnapshotFile of "
        "executor/snapshot.fbs)");
  }

  const fb::SnapshotFile* file = fb::GetSnapshotFile(body.data());
  const fb::MlpSpec* fb_spec = file->spec();  // required: the verifier checked it is present
  MlpSpec spec;
  spec.input = fb_spec->input();
  if (const auto* hidden = fb_spec->hidden()) {
    if (hidden->size() > kMaxHiddenLayers) {
      return Status::DataLoss("invalid spec: " + std::to_string(hidden->size()) +
                              " hidden layers; at most " + std::to_string(kMaxHiddenLayers) +
                              " are supported");
    }
    // Copied bytewise: the verifier (FlatBuffers 2.0.8) checks the alignment of a vector's
    // length but not that of its 8-byte elements, so they may sit 4 bytes off.
    spec.hidden.resize(hidden->size());
    for (size_t i = 0; i < spec.hidden.size(); ++i) {
      int64_t width;
      std::memcpy(&width, hidden->Data() + i * sizeof width, sizeof width);
      spec.hidden[i] = flatbuffers::EndianScalar(width);
    }
  }
  spec.actions = fb_spec->actions();
  spec.head = static_cast<HeadKind>(fb_spec->head());
  spec.activation = static_cast<Activation>(fb_spec->activation());
  if (Status s = spec.Validate(); !s.ok()) return Status::DataLoss("invalid spec: " + s.message());

  const flatbuffers::Vector<float>* fb_params = file->params();  // required
  const int64_t expected = spec.ParameterCount();
  if (static_cast<int64_t>(fb_params->size()) != expected) {
    return Status::DataLoss("a " + spec.ToString() + " MLP has " + std::to_string(expected) +
                            " parameters; the file holds " + std::to_string(fb_params->size()));
  }
  // Element by element: Get() reads little-endian floats on any host.
  std::vector<float> params(fb_params->size());
  for (flatbuffers::uoffset_t i = 0; i < fb_params->size(); ++i) params[i] = fb_params->Get(i);
  auto snapshot = Snapshot::Create(std::move(spec), params, file->version());
  if (!snapshot.ok()) return Status::DataLoss(snapshot.status().message());

  LoadedSnapshot loaded;
  loaded.snapshot = std::move(snapshot).value();
  loaded.info.env = StringOrEmpty(file->env());
  loaded.info.observation_space = StringOrEmpty(file->observation_space());
  loaded.info.action_space = StringOrEmpty(file->action_space());
  loaded.info.note = StringOrEmpty(file->note());
  return loaded;
}

Status SaveSnapshot(const Snapshot& snapshot, const SnapshotFileInfo& info,
                    const std::string& path) {
  if (Status s = CheckEncodable(snapshot, info); !s.ok()) return s;
  return WriteFileAtomically(path, EncodeSnapshotFile(snapshot, info));
}

Result<LoadedSnapshot> LoadSnapshot(const std::string& path) {
  auto bytes = ReadFileBytes(path, kMaxSnapshotFileBytes);
  if (!bytes.ok()) return bytes.status();
  auto loaded = DecodeSnapshotFile(*bytes);
  if (!loaded.ok()) {
    return Status(loaded.status().code(),
                  "snapshot file " + path + ": " + loaded.status().message());
  }
  return loaded;
}

}  // namespace apprentice
