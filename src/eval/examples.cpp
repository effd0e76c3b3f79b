// Implementation of the evaluation example loaders.
#include "eval/examples.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "io/json_file.h"

namespace dsla::eval {
namespace {

using nlohmann::json;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  DSLA_CHECK(in.good(), "{}: cannot open the task's data file", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Example> load_squad(const TaskConfig& task) {
  json root = io::read_json_file(task.data);
  std::vector<Example> out;
  try {
    for (const auto& article : root.at("data")) {
      std::string title = article.at("title").get<std::string>();
      for (const auto& para : article.at("paragraphs")) {
        std::string context = para.at("context").get<std::string>();
        for (const auto& qa : para.at("qas")) {
          Example e;
          e.id = qa.at("id").get<std::string>();
          e.group = title;
          for (const auto& a : qa.at("answers")) e.references.push_back(a.at("text"));
          if (e.references.empty() && !task.include_unanswerable) continue;
          e.fields = {{"title", title},
                      {"context", context},
                      {"question", qa.at("question").get<std::string>()},
                      {"answer", e.references.empty() ? "" : e.references.front()}};
          out.push_back(std::move(e));
        }
      }
    }
  } catch (const json::exception& e) {
    DSLA_FAIL("{}: not in the SQuAD 2.0 layout (data/paragraphs/qas): {}", task.data.string(),
              e.what());
  }
  return out;
}

/// A string field of a JSONL object (numbers are written as text).
std::string field_text(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

Example example_from_json(const TaskConfig& task, const json& obj, const std::string& where) {
  DSLA_CHECK(obj.is_object(), "{}: expected a JSON object", where);
  Example e;
  for (const auto& [key, value] : obj.items()) {
    if (value.is_string() || value.is_number()) e.fields[key] = field_text(value);
  }
  e.id = obj.contains("id") ? field_text(obj["id"]) : where;
  if (task.kind == TaskKind::kGenerate) {
    DSLA_CHECK(obj.contains(task.reference_field), "{}: no reference field '{}'", where,
               task.reference_field);
    const json& ref = obj[task.reference_field];
    if (ref.is_array()) {
      for (const auto& r : ref) e.references.push_back(field_text(r));
    } else {
      e.references.push_back(field_text(ref));
    }
    return e;
  }
  DSLA_CHECK(obj.contains(task.choices_field) && obj[task.choices_field].is_array(),
             "{}: no list field '{}' of choices", where, task.choices_field);
  for (const auto& c : obj[task.choices_field]) e.choices.push_back(field_text(c));
  DSLA_CHECK(e.choices.size() >= 2, "{}: needs at least 2 choices", where);
  DSLA_CHECK(obj.contains(task.gold_field) && obj[task.gold_field].is_number_integer(),
             "{}: no integer field '{}' (index of the right choice)", where, task.gold_field);
  e.gold = obj[task.gold_field].get<int64_t>();
  DSLA_CHECK(e.gold >= 0 && e.gold < static_cast<int64_t>(e.choices.size()),
             "{}: '{}' = {} is not a choice index", where, task.gold_field, e.gold);
  return e;
}

std::vector<Example> load_jsonl(const TaskConfig& task) {
  std::istringstream in(read_text(task.data));
  std::vector<Example> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = fmt::format("{}:{}", task.data.string(), n);
    json obj;
    try {
      obj = json::parse(line);
    } catch (const json::exception& e) {
      DSLA_FAIL("{}: not valid JSON: {}", where, e.what());
    }
    out.push_back(example_from_json(task, obj, where));
  }
  return out;
}

/// Sentences of a paragraph: split after '.', '!' or '?' (and a closing quote) before a space.
std::vector<std::string> sentences(const std::string& para) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i + 1 < para.size(); ++i) {
    bool end = (para[i] == '.' || para[i] == '!' || para[i] == '?');
    size_t after = i + 1;
    if (end && para[after] == '"') ++after;
    if (end && after < para.size() && para[after] == ' ') {
      out.push_back(para.substr(start, after - start));
      start = after + 1;
      i = after;
    }
  }
  if (start < para.size()) out.push_back(para.substr(start));
  return out;
}

/// Paragraphs of 3+ sentences; question: the first half, choices: the next sentence and the
/// sentences at the same place in other paragraphs (seeded, so the task is the same every run).
std::vector<Example> build_text_cloze(const TaskConfig& task) {
  std::string text = read_text(task.data);
  std::vector<std::vector<std::string>> paras;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string p = text.substr(pos, end - pos);
    for (char& c : p) c = (c == '\n') ? ' ' : c;
    auto s = sentences(p);
    if (s.size() >= 3 && p.find("<|endoftext|>") == std::string::npos) paras.push_back(s);
    pos = end + 2;
  }
  DSLA_CHECK(static_cast<int64_t>(paras.size()) > task.cloze_choices,
             "{}: too few paragraphs of 3+ sentences for a cloze", task.data.string());
  std::mt19937_64 rng(1234);
  std::vector<Example> out;
  for (size_t i = 0; i < paras.size(); ++i) {
    size_t cut = paras[i].size() / 2;
    Example e;
    e.id = fmt::format("{}#{}", task.data.filename().string(), i);
    std::string query;
    for (size_t j = 0; j < cut; ++j) query += (j ? " " : "") + paras[i][j];
    e.fields["query"] = query;
    std::set<size_t> used = {i};
    e.choices.push_back(paras[i][cut]);
    while (static_cast<int64_t>(e.choices.size()) < task.cloze_choices) {
      size_t other = std::uniform_int_distribution<size_t>(0, paras.size() - 1)(rng);
      if (!used.insert(other).second) continue;
      e.choices.push_back(paras[other][std::min(cut, paras[other].size() - 1)]);
    }
    // The right answer goes to a seeded position.
    auto gold = std::uniform_int_distribution<size_t>(0, e.choices.size() - 1)(rng);
    std::swap(e.choices[0], e.choices[gold]);
    e.gold = static_cast<int64_t>(gold);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<Example> load_examples(const TaskConfig& task) {
  std::vector<Example> out;
  if (task.format == "squad") {
    out = load_squad(task);
  } else if (task.format == "text_cloze") {
    out = build_text_cloze(task);
  } else {
    out = load_jsonl(task);
  }
  DSLA_CHECK(!out.empty(), "{}: no examples (task {})", task.data.string(), task.name);
  return out;
}

std::vector<std::string> distractor_paragraphs(const std::vector<Example>& examples,
                                               const std::string& group) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& e : examples) {
    auto it = e.fields.find("context");
    if (e.group == group || it == e.fields.end() || !seen.insert(it->second).second) continue;
    out.push_back(it->second);
  }
  return out;
}

}  // namespace dsla::eval
