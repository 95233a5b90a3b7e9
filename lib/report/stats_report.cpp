// Text table, JSON and CSV renderings of popup-stats' report. Undefined values (a threshold
// margin with no dropped weight, a NaN score) are "-" in the table, null in JSON (JsonWriter's
// rule for numbers that are not finite) and an empty field in CSV.
#include "report/stats_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "format/json_write.hpp"
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
  Table(std::vector<std::string> header, size_t left) : left_(left) {
    rows_.push_back(std::move(header));
  }
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
  return {s.name,
          shape_text(s.shape),
          count_text(s.weights),
          count_text(s.kept),
          fraction_text(s.kept_fraction()),
          count_text(s.kept_positive),
          fraction_text(s.kept_positive_fraction())};
}

// An IteRand mask's table has one more column: the kept weights redrawn.
std::vector<std::string> layer_row(const LayerStats& s, bool redraws) {
  std::vector<std::string> row = layer_row(s);
  if (redraws) row.push_back(count_text(s.redrawn));
  return row;
}

std::vector<std::string> overlap_row(const OverlapStats& o) {
  return {o.name,
          count_text(o.weights),
          count_text(o.kept_a),
          count_text(o.kept_b),
          count_text(o.intersection),
          count_text(o.union_count),
          fraction_text(o.jaccard()),
          count_text(o.hamming),
          expected_text(o.random_intersection),
          fraction_text(o.random_jaccard()),
          expected_text(o.random_hamming)};
}

void json_layer(JsonWriter& w, const LayerStats& s) {
  w.object_begin().key("name").string(s.name);
  if (!s.shape.empty()) {
    w.key("shape").array_begin();
    for (const int64_t d : s.shape) w.integer(d);
    w.array_end();
  }
  w.key("weights").integer(s.weights).key("kept").integer(s.kept);
  w.key("kept_fraction").number(s.kept_fraction()).key("kept_positive").integer(s.kept_positive);
  w.key("kept_positive_fraction").number(s.kept_positive_fraction());
  if (s.redrawn >= 0) w.key("redrawn").integer(s.redrawn);
  if (s.has_scores) {
    const ScoreStats& c = s.scores;
    w.key("abs_score").object_begin().key("min").number(c.min).key("q25").number(c.q25);
    w.key("median").number(c.median).key("q75").number(c.q75).key("max").number(c.max);
    w.object_end().key("threshold").number(c.threshold);
    w.key("largest_dropped").number(c.largest_dropped).key("gap").number(c.gap);
    w.key("dropped_near").integer(c.dropped_near).key("kept_near").integer(c.kept_near);
  }
  w.object_end();
}

void json_overlap(JsonWriter& w, const OverlapStats& o) {
  w.object_begin().key("name").string(o.name).key("weights").integer(o.weights);
  w.key("kept_a").integer(o.kept_a).key("kept_b").integer(o.kept_b);
  w.key("intersection").integer(o.intersection).key("union").integer(o.union_count);
  w.key("jaccard").number(o.jaccard()).key("hamming").integer(o.hamming);
  w.key("random_intersection").number(o.random_intersection);
  w.key("random_jaccard").number(o.random_jaccard());
  w.key("random_hamming").number(o.random_hamming).object_end();
}

// The layers of a file or a pair, one a line, then their total.
template <typename Stats, typename Write>
void json_layers(JsonWriter& w, const std::vector<Stats>& layers, const Stats& total, Write write) {
  w.key("layers").array_begin();
  for (const Stats& l : layers) write(w.space("\n  "), l);
  w.array_end().space("\n ").key("total");
  write(w, total);
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
  static const std::vector<std::string> columns = {"row",
                                                   "file",
                                                   "file_b",
                                                   "layer",
                                                   "shape",
                                                   "weights",
                                                   "kept",
                                                   "kept_b",
                                                   "kept_fraction",
                                                   "kept_positive",
                                                   "kept_positive_fraction",
                                                   "abs_score_min",
                                                   "abs_score_q25",
                                                   "abs_score_median",
                                                   "abs_score_q75",
                                                   "abs_score_max",
                                                   "threshold",
                                                   "largest_dropped",
                                                   "gap",
                                                   "dropped_near",
                                                   "kept_near",
                                                   "intersection",
                                                   "union",
                                                   "jaccard",
                                                   "hamming",
                                                   "random_intersection",
                                                   "random_jaccard",
                                                   "random_hamming",
                                                   "redrawn"};
  return columns;
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + cfield(fields[i]);
  return line + "\n";
}

std::string csv_file_row(const FileStats& f, const LayerStats& s) {
  std::vector<std::string> r = {"file",
                                f.path,
                                "",
                                s.name,
                                shape_text(s.shape),
                                count_text(s.weights),
                                count_text(s.kept),
                                "",
                                cnum(s.kept_fraction()),
                                count_text(s.kept_positive),
                                cnum(s.kept_positive_fraction())};
  if (s.has_scores) {
    const ScoreStats& c = s.scores;
    for (const double v :
         {c.min, c.q25, c.median, c.q75, c.max, c.threshold, c.largest_dropped, c.gap})
      r.push_back(cnum(v));
    r.push_back(count_text(c.dropped_near));
    r.push_back(count_text(c.kept_near));
  } else {
    r.resize(r.size() + 10);
  }
  r.resize(csv_columns().size() - 1);
  r.push_back(s.redrawn >= 0 ? count_text(s.redrawn) : "");
  return csv_row(r);
}

std::string csv_pair_row(const std::string& a, const std::string& b, const OverlapStats& o) {
  std::vector<std::string> r = {
      "pair", a, b, o.name, "", count_text(o.weights), count_text(o.kept_a), count_text(o.kept_b)};
  r.resize(21);  // no per-file or score columns
  for (const std::string& v :
       {count_text(o.intersection), count_text(o.union_count), cnum(o.jaccard()),
        count_text(o.hamming), cnum(o.random_intersection), cnum(o.random_jaccard()),
        cnum(o.random_hamming)})
    r.push_back(v);
  r.resize(csv_columns().size());  // no redrawn column
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
    const bool redraws = f.total.redrawn >= 0;
    std::vector<std::string> columns = {"layer",     "shape",    "weights", "kept",
                                        "kept_frac", "positive", "pos_frac"};
    if (redraws) columns.push_back("redrawn");
    Table t(columns, 2);
    for (const LayerStats& s : f.layers) t.add(layer_row(s, redraws));
    t.add(layer_row(f.total, redraws));
    out += t.text();
    if (f.kind != FileKind::scores) continue;
    out += "|score|:\n";
    Table u({"layer", "min", "q25", "median", "q75", "max", "threshold", "dropped_max", "gap",
             "dropped_near", "kept_near"},
            1);
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
             "random_common", "random_jaccard", "random_hamming"},
            1);
    for (const OverlapStats& o : p.layers) t.add(overlap_row(o));
    t.add(overlap_row(p.total));
    out += t.text();
  }
  return out;
}

std::string stats_json(const StatsReport& report) {
  JsonWriter w;
  w.object_begin().key("files").array_begin();
  for (const FileStats& f : report.files) {
    const Recipe& r = f.recipe;
    w.space("\n").object_begin().key("file").string(f.path).key("kind").string(kind_name(f.kind));
    w.key("recipe").object_begin().key("arch").string(r.arch);
    w.key("input").string(input_shape_format(r.input)).key("classes").integer(r.classes);
    w.key("init").string(init_name(r.init)).key("scale").number(r.scale_k);
    w.key("seed").unsigned_integer(r.seed).object_end();
    w.key("k").number(f.k).key("k_source").string(f.k_source);
    json_layers(w, f.layers, f.total, json_layer);
    w.object_end();
  }
  w.array_end().space("\n").key("pairs").array_begin();
  for (const PairStats& p : report.pairs) {
    w.space("\n").object_begin().key("a").string(report.files[p.a].path);
    w.key("b").string(report.files[p.b].path);
    json_layers(w, p.layers, p.total, json_overlap);
    w.object_end();
  }
  return w.array_end().object_end().text() + "\n";
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
