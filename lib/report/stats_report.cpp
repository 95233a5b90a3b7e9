// Text table, JSON and CSV renderings of popup-stats' report. Undefined values (a threshold
// margin with no dropped weight, a NaN score) are "-" in the table, null in JSON and an empty
// field in CSV.
#include "report/stats_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "format/json.hpp"
#include "format/number_text.hpp"

namespace popup {
namespace {

std::string printf_text(const char* fmt, double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "-" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string fraction_text(double v) { return printf_text("%.4f", v); }
std::string score_text(double v) { return printf_text("%.4g", v); }
std::string expected_text(double v) { return printf_text("%.1f", v); }
std::string count_text(int64_t v) { return std::to_string(v); }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

// Columns separated by two spaces; the first `left` columns left-aligned, numbers right-aligned.
class Table {
 public:
  Table(std::vector<std::string> header, size_t left) : left_(left) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string text() const {
    std::vector<size_t> width(rows_[0].size(), 0);
    for (const auto& row : rows_)
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (size_t c = 0; c < row.size(); ++c) {
        const std::string pad(width[c] - row[c].size(), ' ');
        if (c) line += "  ";
        line += c < left_ ? row[c] + pad : pad + row[c];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  size_t left_;
  std::vector<std::vector<std::string>> rows_;
};

std::string recipe_text(const Recipe& r) {
  std::string s = r.arch + " on " + input_shape_format(r.input) + ", " + std::to_string(r.classes) +
                  " classes, " + init_name(r.init);
  if (r.scale_k != 1.0) s += " scaled by k = " + double_format(r.scale_k);
  return s + ", seed " + std::to_string(r.seed);
}

std::vector<std::string> layer_row(const LayerStats& s) {
  return {s.name, shape_text(s.shape), count_text(s.weights), count_text(s.kept),
          fraction_text(s.kept_fraction()), count_text(s.kept_positive),
          fraction_text(s.kept_positive_fraction())};
}

std::vector<std::string> overlap_row(const OverlapStats& o) {
  return {o.name, count_text(o.weights), count_text(o.kept_a), count_text(o.kept_b),
          count_text(o.intersection), count_text(o.union_count), fraction_text(o.jaccard()),
          count_text(o.hamming), expected_text(o.random_intersection),
          fraction_text(o.random_jaccard()), expected_text(o.random_hamming)};
}

// JSON numbers: the shortest exact text; null where undefined.
std::string jnum(double v) { return std::isfinite(v) ? double_format(v) : "null"; }
std::string jint(int64_t v) { return std::to_string(v); }

std::string json_layer(const LayerStats& s) {
  std::string j = "{\"name\":" + json_quote(s.name);
  if (!s.shape.empty()) {
    j += ",\"shape\":[";
    for (size_t i = 0; i < s.shape.size(); ++i) j += (i ? "," : "") + jint(s.shape[i]);
    j += "]";
  }
  j += ",\"weights\":" + jint(s.weights) + ",\"kept\":" + jint(s.kept) +
       ",\"kept_fraction\":" + jnum(s.kept_fraction()) + ",\"kept_positive\":" +
       jint(s.kept_positive) + ",\"kept_positive_fraction\":" + jnum(s.kept_positive_fraction());
  if (s.has_scores) {
    const ScoreStats& c = s.scores;
    j += ",\"abs_score\":{\"min\":" + jnum(c.min) + ",\"q25\":" + jnum(c.q25) + ",\"median\":" +
         jnum(c.median) + ",\"q75\":" + jnum(c.q75) + ",\"max\":" + jnum(c.max) +
         "},\"threshold\":" + jnum(c.threshold) + ",\"largest_dropped\":" +
         jnum(c.largest_dropped) + ",\"gap\":" + jnum(c.gap) + ",\"dropped_near\":" +
         jint(c.dropped_near) + ",\"kept_near\":" + jint(c.kept_near);
  }
  return j + "}";
}

std::string json_overlap(const OverlapStats& o) {
  return "{\"name\":" + json_quote(o.name) + ",\"weights\":" + jint(o.weights) + ",\"kept_a\":" +
         jint(o.kept_a) + ",\"kept_b\":" + jint(o.kept_b) + ",\"intersection\":" +
         jint(o.intersection) + ",\"union\":" + jint(o.union_count) + ",\"jaccard\":" +
         jnum(o.jaccard()) + ",\"hamming\":" + jint(o.hamming) + ",\"random_intersection\":" +
         jnum(o.random_intersection) + ",\"random_jaccard\":" + jnum(o.random_jaccard()) +
         ",\"random_hamming\":" + jnum(o.random_hamming) + "}";
}

// CSV: RFC 4180 quoting where a field needs it; numbers as in JSON, empty where undefined.
std::string cfield(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
std::string cnum(double v) { return std::isfinite(v) ? double_format(v) : ""; }

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns = {
      "row", "file", "file_b", "layer", "shape", "weights", "kept", "kept_b", "kept_fraction",
      "kept_positive", "kept_positive_fraction", "abs_score_min", "abs_score_q25",
      "abs_score_median", "abs_score_q75", "abs_score_max", "threshold", "largest_dropped", "gap",
      "dropped_near", "kept_near", "intersection", "union", "jaccard", "hamming",
      "random_intersection", "random_jaccard", "random_hamming"};
  return columns;
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + cfield(fields[i]);
  return line + "\n";
}

std::string csv_file_row(const FileStats& f, const LayerStats& s) {
  std::vector<std::string> r = {"file", f.path, "", s.name, shape_text(s.shape), jint(s.weights),
                                jint(s.kept), "", cnum(s.kept_fraction()), jint(s.kept_positive),
                                cnum(s.kept_positive_fraction())};
  if (s.has_scores) {
    const ScoreStats& c = s.scores;
    for (const double v : {c.min, c.q25, c.median, c.q75, c.max, c.threshold, c.largest_dropped, c.gap})
      r.push_back(cnum(v));
    r.push_back(jint(c.dropped_near));
    r.push_back(jint(c.kept_near));
  } else {
    r.resize(r.size() + 10);
  }
  r.resize(csv_columns().size());
  return csv_row(r);
}

std::string csv_pair_row(const std::string& a, const std::string& b, const OverlapStats& o) {
  std::vector<std::string> r = {"pair", a, b, o.name, "", jint(o.weights), jint(o.kept_a),
                                jint(o.kept_b)};
  r.resize(21);  // no per-file or score columns
  for (const std::string& v : {jint(o.intersection), jint(o.union_count), cnum(o.jaccard()),
                               jint(o.hamming), cnum(o.random_intersection),
                               cnum(o.random_jaccard()), cnum(o.random_hamming)})
    r.push_back(v);
  return csv_row(r);
}

}  // namespace

std::string stats_table(const StatsReport& report) {
  std::string out;
  for (const FileStats& f : report.files) {
    if (!out.empty()) out += "\n";
    out += f.path + ": " + kind_name(f.kind) + " of " + recipe_text(f.recipe) +
           (f.kind == FileKind::scores ? "; ranked at k = " : "; k = ") + double_format(f.k) +
           " (" + f.k_source + ")\n";
    Table t({"layer", "shape", "weights", "kept", "kept_frac", "positive", "pos_frac"}, 2);
    for (const LayerStats& s : f.layers) t.add(layer_row(s));
    t.add(layer_row(f.total));
    out += t.text();
    if (f.kind != FileKind::scores) continue;
    out += "|score|:\n";
    Table u({"layer", "min", "q25", "median", "q75", "max", "threshold", "dropped_max", "gap",
             "dropped_near", "kept_near"}, 1);
    for (const LayerStats& s : f.layers) {
      const ScoreStats& c = s.scores;
      u.add({s.name, score_text(c.min), score_text(c.q25), score_text(c.median), score_text(c.q75),
             score_text(c.max), score_text(c.threshold), score_text(c.largest_dropped),
             score_text(c.gap), count_text(c.dropped_near), count_text(c.kept_near)});
    }
    out += u.text();
  }
  for (const PairStats& p : report.pairs) {
    out += "\noverlap of " + report.files[p.a].path + " (a) and " + report.files[p.b].path +
           " (b); random: independent uniform masks with the same kept counts\n";
    Table t({"layer", "weights", "kept_a", "kept_b", "common", "union", "jaccard", "hamming",
             "random_common", "random_jaccard", "random_hamming"}, 1);
    for (const OverlapStats& o : p.layers) t.add(overlap_row(o));
    t.add(overlap_row(p.total));
    out += t.text();
  }
  return out;
}

std::string stats_json(const StatsReport& report) {
  std::string j = "{\"files\":[";
  for (size_t i = 0; i < report.files.size(); ++i) {
    const FileStats& f = report.files[i];
    const Recipe& r = f.recipe;
    j += std::string(i ? ",\n" : "\n") + "{\"file\":" + json_quote(f.path) + ",\"kind\":" +
         json_quote(kind_name(f.kind)) + ",\"recipe\":{\"arch\":" + json_quote(r.arch) +
         ",\"input\":" + json_quote(input_shape_format(r.input)) + ",\"classes\":" +
         jint(r.classes) + ",\"init\":" + json_quote(init_name(r.init)) + ",\"scale\":" +
         jnum(r.scale_k) + ",\"seed\":" + std::to_string(r.seed) + "},\"k\":" + jnum(f.k) +
         ",\"k_source\":" + json_quote(f.k_source) + ",\"layers\":[";
    for (size_t l = 0; l < f.layers.size(); ++l) j += (l ? ",\n  " : "\n  ") + json_layer(f.layers[l]);
    j += "],\n \"total\":" + json_layer(f.total) + "}";
  }
  j += "],\n\"pairs\":[";
  for (size_t i = 0; i < report.pairs.size(); ++i) {
    const PairStats& p = report.pairs[i];
    j += std::string(i ? ",\n" : "\n") + "{\"a\":" + json_quote(report.files[p.a].path) +
         ",\"b\":" + json_quote(report.files[p.b].path) + ",\"layers\":[";
    for (size_t l = 0; l < p.layers.size(); ++l) j += (l ? ",\n  " : "\n  ") + json_overlap(p.layers[l]);
    j += "],\n \"total\":" + json_overlap(p.total) + "}";
  }
  return j + "]}\n";
}

std::string stats_csv_header() {
  std::string h;
  for (size_t i = 0; i < csv_columns().size(); ++i) h += (i ? "," : "") + csv_columns()[i];
  return h;
}

std::string stats_csv(const StatsReport& report) {
  std::string out = stats_csv_header() + "\n";
  for (const FileStats& f : report.files) {
    for (const LayerStats& s : f.layers) out += csv_file_row(f, s);
    out += csv_file_row(f, f.total);
  }
  for (const PairStats& p : report.pairs) {
    const std::string& a = report.files[p.a].path;
    const std::string& b = report.files[p.b].path;
    for (const OverlapStats& o : p.layers) out += csv_pair_row(a, b, o);
    out += csv_pair_row(a, b, p.total);
  }
  return out;
}

}  // namespace popup
