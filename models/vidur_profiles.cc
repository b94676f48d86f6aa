#include "models/vidur_profiles.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim::models {

namespace {

constexpr double kMaxTokens = 16384;  // the range: operators over 1..16K tokens
constexpr double kHalfBytes = 2.0;    // Vidur profiles fp16

// A CSV file read line by line through zlib (which reads plain files too), with its header.
class CsvFile {
 public:
  explicit CsvFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb"), &gzclose) {
    if (!file_) throw Error(Place{path}, "cannot open the file");
    std::vector<std::string> header;
    if (!next(header)) throw Error(Place{path, 1}, "empty file: expected a CSV header");
    for (size_t i = 0; i < header.size(); ++i) columns_[header[i]] = i;
  }

  bool next(std::vector<std::string>& fields) {
    std::string line;
    char buf[8192];
    for (;;) {
      if (!gzgets(file_.get(), buf, sizeof buf)) {
        if (line.empty()) return false;
        break;
      }
      line += buf;
      if (!line.empty() && line.back() == '\n') break;
    }
    ++line_;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    fields.clear();
    size_t start = 0;
    for (;;) {
      const size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return true;
  }

  bool has(const std::string& column) const { return columns_.count(column) > 0; }

  const std::string& field(const std::vector<std::string>& row, const std::string& column) const {
    const auto it = columns_.find(column);
    if (it == columns_.end()) throw Error(Place{path_, 1}, fmt::format("missing column '{}'", column));
    if (it->second >= row.size()) {
      throw Error(Place{path_, line_},
                  fmt::format("{}: expected {} fields, found {}", column, columns_.size(), row.size()));
    }
    return row[it->second];
  }

  double number(const std::vector<std::string>& row, const std::string& column) const {
    const std::string& text = field(row, column);
    try {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used == text.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    throw Error(Place{path_, line_}, fmt::format("{}: expected a number, found '{}'", column, text));
  }

  bool flag(const std::vector<std::string>& row, const std::string& column) const {
    const std::string& text = field(row, column);
    if (text == "True" || text == "true" || text == "1") return true;
    if (text == "False" || text == "false" || text == "0") return false;
    throw Error(Place{path_, line_}, fmt::format("{}: expected True or False, found '{}'", column, text));
  }

  int line() const { return line_; }

 private:
  std::string path_;
  std::unique_ptr<gzFile_s, decltype(&gzclose)> file_;
  std::map<std::string, size_t> columns_;
  int line_ = 0;
};

// "compute/a100/meta-llama/Llama-2-7b-hf/mlp.csv.gz" -> "meta-llama/Llama-2-7b-hf"; the parent folder otherwise.
std::string model_of(const std::filesystem::path& file) {
  const std::filesystem::path dir = file.parent_path();
  return dir.parent_path().filename().string() + "/" + dir.filename().string();
}

const std::vector<std::string> kMlpOps = {
    "emb",         "input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
    "mlp_up_proj", "mlp_act",         "mlp_down_proj", "add"};

void read_mlp(const std::string& path, std::vector<OpSample>& out) {
  CsvFile csv(path);
  const std::string model = model_of(path);
  std::vector<std::string> row;
  while (csv.next(row)) {
    if (row.size() == 1 && row[0].empty()) continue;
    const double tokens = csv.number(row, "num_tokens");
    if (tokens < 1 || tokens > kMaxTokens) continue;
    VidurShape s;
    s.n_head = csv.number(row, "n_head");
    s.n_kv_head = csv.number(row, "n_kv_head");
    s.n_embd = csv.number(row, "n_embd");
    s.n_expanded_embd = csv.number(row, "n_expanded_embd");
    s.gated = csv.flag(row, "use_gated_mlp");
    s.tp = static_cast<int>(csv.number(row, "num_tensor_parallel_workers"));
    if (s.n_head < 1 || s.n_embd < 1 || s.tp < 1) {
      throw Error(Place{path, csv.line()}, "n_head, n_embd and num_tensor_parallel_workers must be >= 1");
    }
    std::vector<std::pair<std::string, double>> ms;
    for (const std::string& op : kMlpOps) {
      const std::string column = "time_stats." + op + ".median";
      if (csv.has(column) && !csv.field(row, column).empty()) ms.emplace_back(op, csv.number(row, column));
    }
    for (OpSample& o : mlp_row_samples(s, tokens, ms, model)) out.push_back(std::move(o));
  }
}

void read_attention(const std::string& path, std::vector<OpSample>& out) {
  CsvFile csv(path);
  const std::string model = model_of(path);
  std::vector<std::string> row;
  while (csv.next(row)) {
    if (row.size() == 1 && row[0].empty()) continue;
    const int tp = static_cast<int>(csv.number(row, "num_tensor_parallel_workers"));
    const double q_heads = csv.number(row, "n_q_head") / tp, kv_heads = csv.number(row, "n_kv_head") / tp;
    const double head_dim = csv.number(row, "n_embd") / csv.number(row, "n_q_head");
    const double batch = csv.number(row, "batch_size"), context = csv.number(row, "kv_cache_size");
    OpSample o;
    o.model = model;
    o.tp = tp;
    if (csv.flag(row, "is_prefill")) {
      const double chunk = csv.number(row, "prefill_chunk_size");
      o.family = "attention_prefill";
      o.op = "attn_prefill";
      o.tokens = batch * chunk;
      o.tokens_per_seq = chunk;
      o.flops = batch * 4.0 * q_heads * head_dim * chunk * (context + chunk / 2.0);
      o.seconds = csv.number(row, "time_stats.attn_prefill.median") * 1e-3;
    } else {
      o.family = "attention_decode";
      o.op = "attn_decode";
      o.tokens = batch;
      o.kv_tokens = batch * context;
      o.kv_bytes =
          batch * context * 2.0 * kv_heads * head_dim * kHalfBytes + batch * q_heads * head_dim * 2.0 * kHalfBytes;
      o.seconds = csv.number(row, "time_stats.attn_decode.median") * 1e-3;
    }
    if (o.seconds > 0 && o.tokens <= kMaxTokens) out.push_back(std::move(o));
  }
}

void read_allreduce(const std::string& path, std::vector<OpSample>& out) {
  CsvFile csv(path);
  const std::string folder = std::filesystem::path(path).parent_path().filename().string();
  std::vector<std::string> row;
  while (csv.next(row)) {
    if (row.size() == 1 && row[0].empty()) continue;
    const int workers = static_cast<int>(csv.number(row, "num_workers"));
    if (static_cast<int>(csv.number(row, "devices_per_node")) != workers) continue;  // spans nodes
    OpSample o;
    o.family = "allreduce";
    o.op = "all_reduce";
    o.model = folder;
    o.gpus = workers;
    o.message_bytes = csv.number(row, "size") * kHalfBytes;
    o.seconds = csv.number(row, "time_stats.all_reduce.median") * 1e-3;
    if (o.seconds > 0) out.push_back(std::move(o));
  }
}

}  // namespace

std::vector<OpSample> mlp_row_samples(const VidurShape& s, double m,
                                      const std::vector<std::pair<std::string, double>>& op_ms,
                                      const std::string& model) {
  const double tp = s.tp, head_dim = s.n_embd / s.n_head, e = s.n_embd, f = s.n_expanded_embd;
  std::vector<OpSample> out;
  for (const auto& [op, ms] : op_ms) {
    if (!(ms > 0)) continue;  // an op the model does not have (phi-2: no post-attention norm)
    OpSample o;
    o.op = op;
    o.model = model;
    o.tp = s.tp;
    o.tokens = m;
    o.m = m;
    o.seconds = ms * 1e-3;
    o.family = "gemm";
    if (op == "attn_pre_proj") {
      o.k = e;
      o.n = (s.n_head + 2.0 * s.n_kv_head) * head_dim / tp;
    } else if (op == "attn_post_proj") {
      o.k = s.n_head * head_dim / tp;
      o.n = e;
    } else if (op == "mlp_up_proj") {
      o.k = e;
      o.n = (s.gated ? 2.0 : 1.0) * f / tp;
    } else if (op == "mlp_down_proj") {
      o.k = f / tp;
      o.n = e;
    } else {
      o.family = "elementwise";
      if (op == "emb" || op == "input_layernorm" || op == "post_attention_layernorm") {
        o.bytes = 2.0 * m * e * kHalfBytes;  // read a row, write a row (the embedding gathers rows)
        o.kind = op == "emb" ? ElementKind::kGather : ElementKind::kNorm;
      } else if (op == "attn_rope") {
        o.bytes = 2.0 * m * (s.n_head + s.n_kv_head) * head_dim / tp * kHalfBytes;  // q and k in place
      } else if (op == "mlp_act") {
        o.bytes = (s.gated ? 3.0 : 2.0) * m * f / tp * kHalfBytes;  // gate and up read, product written
      } else if (op == "add") {
        o.bytes = 3.0 * m * e * kHalfBytes;
        o.kind = ElementKind::kStream;
      } else {
        continue;
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<OpSample> read_vidur_profiles(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(Place{dir}, "no such file or folder");
  std::vector<std::string> files;
  if (fs::is_regular_file(dir, ec)) {
    files.push_back(dir);
  } else {
    for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<OpSample> out;
  for (const std::string& f : files) {
    const std::string name = fs::path(f).filename().string();
    if (name == "mlp.csv" || name == "mlp.csv.gz") {
      read_mlp(f, out);
    } else if (name == "attention.csv" || name == "attention.csv.gz") {
      read_attention(f, out);
    } else if (name == "all_reduce.csv" || name == "all_reduce.csv.gz") {
      read_allreduce(f, out);
    }
  }
  if (out.empty()) {
    throw Error(Place{dir}, "no Vidur profile found: expected mlp.csv, attention.csv or all_reduce.csv (or .csv.gz)");
  }
  return out;
}

}  // namespace kvsim::models
