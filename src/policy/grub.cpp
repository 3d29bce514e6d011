#include "iommuvm/policy/grub.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::policy {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// The lines as strings (they are edited), the last one "" when TEXT ends with a newline, so
// that joining them with '\n' gives TEXT back.
std::vector<std::string> owned_lines(std::string_view text) {
  auto views = text::split_lines(text, {.keep_last_empty = true});
  return {views.begin(), views.end()};
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    out += lines[i];
  }
  return out;
}

bool is_cmdline_key(std::string_view key) { return key == kGrubCmdlineDefault || key == kGrubCmdline; }

// One shell word starting at POS. Fills the assignment's value fields; returns an
// error text for forms iommuvm will not edit, empty when fine.
std::string parse_word(std::string_view line, std::size_t pos, GrubAssignment& a) {
  std::string decoded;
  std::string problem;
  std::vector<char> segments;  // quote kind of each segment: '"', '\'', 0 for bare text
  auto segment = [&](char kind) {
    if (segments.empty() || segments.back() != kind || kind != 0) segments.push_back(kind);
  };
  std::size_t i = pos;
  while (i < line.size() && !is_blank(line[i]) && line[i] != ';') {
    char c = line[i];
    if (c == '\'') {
      std::size_t j = line.find('\'', i + 1);
      if (j == std::string_view::npos) return "unterminated single quote (a value spanning lines?)";
      decoded.append(line.substr(i + 1, j - i - 1));
      segment('\'');
      i = j + 1;
    } else if (c == '"') {
      segment('"');
      ++i;
      while (i < line.size() && line[i] != '"') {
        char d = line[i];
        if (d == '\\' && i + 1 < line.size() &&
            (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' || line[i + 1] == '`')) {
          if (line[i + 1] == '$' || line[i + 1] == '`') problem = "escaped '$' or '`'";
          decoded += line[i + 1];
          i += 2;
          continue;
        }
        if (d == '`' || (d == '$' && i + 1 < line.size() && line[i + 1] == '('))
          problem = "command substitution";
        decoded += d;
        ++i;
      }
      if (i >= line.size()) return "unterminated double quote (a value spanning lines?)";
      ++i;
    } else if (c == '`') {
      std::size_t j = line.find('`', i + 1);
      if (j == std::string_view::npos) return "unterminated backquote";
      problem = "command substitution";
      decoded.append(line.substr(i, j - i + 1));
      segment(0);
      i = j + 1;
    } else if (c == '$' && i + 1 < line.size() && line[i + 1] == '(') {
      int depth = 0;
      std::size_t j = i + 1;
      for (; j < line.size(); ++j) {
        if (line[j] == '(') ++depth;
        if (line[j] == ')' && --depth == 0) break;
      }
      if (j >= line.size()) return "unterminated command substitution";
      problem = "command substitution";
      decoded.append(line.substr(i, j - i + 1));
      segment(0);
      i = j + 1;
    } else if (c == '\\') {
      problem = "backslash outside quotes";
      if (i + 1 < line.size()) decoded += line[i + 1];
      segment(0);
      i += 2;
    } else {
      decoded += c;
      segment(0);
      ++i;
    }
  }
  a.value_begin = pos;
  a.value_end = std::min(i, line.size());
  a.raw_value = std::string(line.substr(pos, a.value_end - pos));
  a.value = decoded;
  a.quote = segments.size() == 1 ? segments[0] : 0;
  if (segments.size() > 1) problem = "mixed quoting";
  // After the word: blanks, then nothing or a comment.
  std::size_t k = a.value_end;
  while (k < line.size() && is_blank(line[k])) ++k;
  if (k < line.size() && line[k] != '#') problem = "more shell text after the value";
  return problem;
}

// $NAME and ${NAME} in VALUE replaced from ENV (unset: empty).
std::string expand(std::string_view value, const std::map<std::string, std::string>& env) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '$' || i + 1 >= value.size()) {
      out += value[i];
      continue;
    }
    std::size_t start = i + 1, end = start;
    bool braced = value[start] == '{';
    if (braced) ++start, end = start;
    while (end < value.size() && is_name_char(value[end])) ++end;
    if (end == start || (braced && (end >= value.size() || value[end] != '}'))) {
      out += value[i];
      continue;
    }
    auto it = env.find(std::string(value.substr(start, end - start)));
    if (it != env.end()) out += it->second;
    i = braced ? end : end - 1;
  }
  return out;
}

bool references(std::string_view value, std::string_view key) {
  std::string bare = "$" + std::string(key), braced = "${" + std::string(key) + "}";
  for (std::size_t p = value.find(bare); p != std::string_view::npos; p = value.find(bare, p + 1)) {
    std::size_t after = p + bare.size();
    if (after >= value.size() || !is_name_char(value[after])) return true;
  }
  return value.find(braced) != std::string_view::npos;
}

struct Parsed {
  std::vector<std::vector<GrubAssignment>> files;
};

Parsed parse_all(const std::vector<GrubSource>& sources) {
  Parsed p;
  for (const auto& s : sources) {
    try {
      p.files.push_back(parse_grub_assignments(s.text));
    } catch (const InputError& e) {
      throw InputError(s.name + ": " + e.what());
    }
  }
  return p;
}

// Walk every assignment in order; the env after each, and the chain per key.
struct Walk {
  std::map<std::string, std::string> env;
  std::map<std::string, std::vector<GrubLocation>> chains;
};

Walk walk(const Parsed& p) {
  Walk w;
  for (std::size_t f = 0; f < p.files.size(); ++f) {
    for (const auto& a : p.files[f]) {
      std::string v = a.quote == '\'' ? a.value : expand(a.value, w.env);
      auto& chain = w.chains[a.key];
      GrubLocation here{f, a.line};
      if (a.quote != '\'' && references(a.value, a.key))
        chain.insert(chain.begin(), here);
      else
        chain = {here};
      w.env[a.key] = v;
    }
  }
  return w;
}

const GrubAssignment& at(const Parsed& p, const GrubLocation& loc) {
  for (const auto& a : p.files[loc.file])
    if (a.line == loc.line) return a;
  throw Error("internal: no assignment at the location");
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v)
    if (!(is_name_char(c) || c == '.' || c == '=' || c == ',' || c == '-' || c == '/' || c == ':' ||
          c == '+' || c == '@' || c == '%' || c == '$' || c == '{' || c == '}'))
      return true;
  return false;
}

std::string encode(std::string_view value, char quote) {
  if (quote == '\'' && value.find('\'') == std::string_view::npos) return "'" + std::string(value) + "'";
  if (quote == 0 && !needs_quotes(value)) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

namespace {

// The shell structure of one line, as sh reads it: the code without its comment, the
// words outside quotes (for keywords), and whether a quote, a backquote or a $( ... ) is
// still open at its end or the line is continued (\, &&, ||, |) on the next one.
struct LineShape {
  std::string code;
  std::vector<std::string> words;
  bool spans_lines = false;
};

LineShape shape_of(std::string_view line) {
  LineShape s;
  std::vector<char> open;  // '\'', '"', '`' or ')' for $( and (
  std::string word;
  auto end_word = [&] {
    if (!word.empty()) s.words.push_back(word);
    word.clear();
  };
  std::size_t i = 0, code_end = line.size();
  while (i < line.size()) {
    char c = line[i];
    char top = open.empty() ? 0 : open.back();
    if (top == '\'') {
      if (c == '\'') open.pop_back();
      ++i;
      continue;
    }
    if (top == '"' || top == '`') {
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == top) open.pop_back();
      else if (top == '"' && c == '`') open.push_back('`');
      else if (top == '"' && c == '$' && i + 1 < line.size() && line[i + 1] == '(') open.push_back(')'), ++i;
      ++i;
      continue;
    }
    // Outside quotes (or inside $( ... )).
    if (c == '\\') {
      if (i + 1 >= line.size()) s.spans_lines = true;
      word += line.substr(i, 2);
      i += 2;
      continue;
    }
    if (c == '#' && top == 0 && (i == 0 || is_blank(line[i - 1]) || std::string_view(";&|()").find(line[i - 1]) != std::string_view::npos)) {
      code_end = i;
      break;
    }
    if (c == '\'' || c == '"' || c == '`') open.push_back(c);
    else if (c == '$' && i + 1 < line.size() && line[i + 1] == '(') open.push_back(')'), word += c, ++i;
    else if (c == '(' && top == ')') open.push_back(')');
    else if (c == ')' && top == ')') open.pop_back();
    if (top == 0 && (is_blank(c) || std::string_view(";&|()").find(c) != std::string_view::npos)) {
      end_word();
      if (c == '(' || c == ')') s.words.emplace_back(1, c);
    } else {
      word += c;
    }
    ++i;
  }
  end_word();
  if (!open.empty()) s.spans_lines = true;
  s.code = std::string(line.substr(0, code_end));
  std::string_view t = s.code;
  while (!t.empty() && is_blank(t.back())) t.remove_suffix(1);
  if (!s.spans_lines && !t.empty() && (t.back() == '|' || (t.size() >= 2 && t.substr(t.size() - 2) == "&&")))
    s.spans_lines = true;
  return s;
}

// A GRUB_CMDLINE_* name in CODE (from FROM on) that is not a $NAME / ${NAME} reference:
// shell code that may set, unset or change it.
bool names_cmdline_key(std::string_view code, std::size_t from) {
  for (std::size_t p = code.find(kGrubCmdline, from); p != std::string_view::npos; p = code.find(kGrubCmdline, p + 1)) {
    bool reference = p > 0 && (code[p - 1] == '$' || (code[p - 1] == '{' && p > 1 && code[p - 2] == '$'));
    if (!reference) return true;
  }
  return false;
}

// How a command line changes the nesting of if/case/for/while/until, { } and ( ).
int nesting_change(const std::vector<std::string>& words) {
  int d = 0;
  for (const auto& w : words) {
    if (w == "if" || w == "case" || w == "for" || w == "while" || w == "until" || w == "{" || w == "(") ++d;
    if (w == "fi" || w == "esac" || w == "done" || w == "}" || w == ")") --d;
  }
  return d;
}

}  // namespace

std::vector<GrubAssignment> parse_grub_assignments(std::string_view text) {
  std::vector<GrubAssignment> out;
  if (text.size() > kMaxGrubFileBytes)
    throw InputError(fmt::format("{} bytes; iommuvm edits GRUB default files of at most {} bytes (a real one is a few KiB)",
                                 text.size(), kMaxGrubFileBytes));
  std::vector<std::string> lines = owned_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    if (lines[n].find('\0') != std::string::npos)
      throw InputError(fmt::format("line {}: a NUL byte: a GRUB default file is shell text (no shell reads past it)", n + 1));
    if (lines[n].size() > kMaxGrubLineBytes)
      throw InputError(fmt::format("line {}: {} bytes; iommuvm edits lines of at most {} bytes (the kernel takes a "
                                   "command line of at most 2048 bytes on x86)", n + 1, lines[n].size(), kMaxGrubLineBytes));
  }
  int depth = 0;                       // inside if/case/loops/braces: assignments there are conditional
  std::set<std::string> conditional;   // variables assigned inside one, or by shell code
  auto refuse = [&](std::size_t n, const std::string& why) {
    throw InputError(fmt::format("line {}: {}: {}", n + 1, why, lines[n]));
  };
  for (std::size_t n = 0; n < lines.size(); ++n) {
    std::string_view line = lines[n];
    LineShape shape = shape_of(line);
    if (shape.spans_lines)
      refuse(n, "a value or command spanning lines (an open quote, a $( ) or backquote, or a line ending in \\, && "
                "or |); iommuvm edits only files whose lines are complete: join the lines or edit the file by hand");
    std::size_t i = 0;
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i >= shape.code.size()) continue;  // blank or a comment
    std::size_t start = i;
    if (line.substr(i, 7) == "export " || line.substr(i, 7) == "export\t") {
      i += 7;
      while (i < line.size() && is_blank(line[i])) ++i;
    }
    std::size_t k = i;
    if (i < line.size() && is_name_start(line[i]))
      while (k < line.size() && is_name_char(line[k])) ++k;
    bool assignment = k > i && k < line.size() && line[k] == '=';
    GrubAssignment a;
    std::string problem = "not an assignment";
    if (assignment) {
      a.line = n + 1;
      a.key = std::string(line.substr(i, k - i));
      problem = parse_word(line, k + 1, a);
    }
    if (assignment && is_cmdline_key(a.key)) {
      if (!problem.empty()) refuse(n, fmt::format("cannot edit {} safely ({})", a.key, problem));
      if (depth > 0)
        refuse(n, fmt::format("{} is assigned inside an if, case, loop or braces: which value is in effect depends "
                              "on the shell; make it a plain assignment outside them or edit the file by hand",
                              a.key));
      for (const auto& v : conditional)
        if (a.quote != '\'' && references(a.value, v))
          refuse(n, fmt::format("{} uses ${}, which is set conditionally or by shell code iommuvm does not "
                                "evaluate; edit the file by hand",
                                a.key, v));
      tokenize_cmdline(a.value);  // throws on an unbalanced kernel quote
      out.push_back(std::move(a));
      continue;
    }
    // A command, or another variable set with shell text iommuvm does not evaluate: it must
    // leave GRUB_CMDLINE_* alone, and must not pull in other files.
    std::size_t from = assignment ? a.value_begin : start;
    if (names_cmdline_key(shape.code, from))
      refuse(n, "shell code that may set or change the kernel command line (a conditional assignment, a command, "
                "several commands on one line); iommuvm edits only plain KEY=\"value\" lines: edit the file by hand");
    if (!assignment && !shape.words.empty() && (shape.words[0] == "." || shape.words[0] == "source" || shape.words[0] == "eval"))
      refuse(n, "the file sources or evaluates other text, which may set the kernel command line; iommuvm cannot follow it");
    if (assignment && (depth > 0 || !problem.empty())) conditional.insert(a.key);
    if (assignment && problem != "more shell text after the value") {
      out.push_back(std::move(a));
    } else {
      depth = std::max(0, depth + nesting_change(shape.words));
      for (const auto& w : shape.words) {  // NAME=... anywhere in the command: not a value iommuvm knows
        std::size_t e = 0;
        while (e < w.size() && is_name_char(w[e])) ++e;
        if (e > 0 && e < w.size() && w[e] == '=' && is_name_start(w[0])) conditional.insert(w.substr(0, e));
      }
    }
  }
  return out;
}

GrubEffective grub_effective(const std::vector<GrubSource>& sources, std::string_view key) {
  Parsed p = parse_all(sources);
  Walk w = walk(p);
  GrubEffective e;
  e.key = std::string(key);
  auto it = w.chains.find(e.key);
  if (it != w.chains.end() && !it->second.empty()) {
    e.chain = it->second;
    e.location = e.chain.front();
    e.value = w.env[e.key];
  }
  return e;
}

std::string grub_kernel_cmdline(const std::vector<GrubSource>& sources) {
  std::string linux_ = grub_effective(sources, kGrubCmdline).value;
  std::string def = grub_effective(sources, kGrubCmdlineDefault).value;
  return join_cmdline(tokenize_cmdline(linux_ + " " + def));
}

std::vector<std::string> grub_set_policy(const std::vector<GrubSource>& sources, Policy policy,
                                         Vendor vendor) {
  if (sources.empty()) throw InputError("no GRUB default file given");
  Parsed p = parse_all(sources);
  Walk w = walk(p);
  std::vector<std::vector<std::string>> lines;
  for (const auto& s : sources) lines.push_back(owned_lines(s.text));
  std::vector<GrubLocation> edited;

  auto edit = [&](const GrubLocation& loc, const std::string& new_value) {
    const GrubAssignment& a = at(p, loc);
    if (new_value == a.value) return;
    std::string& line = lines[loc.file][loc.line - 1];
    line = line.substr(0, a.value_begin) + encode(new_value, a.quote) + line.substr(a.value_end);
    edited.push_back(loc);
  };

  const auto& default_chain = w.chains[std::string(kGrubCmdlineDefault)];
  for (const auto& loc : w.chains[std::string(kGrubCmdline)]) edit(loc, strip_policy_params(at(p, loc).value));
  for (std::size_t i = 0; i < default_chain.size(); ++i) {
    const std::string& v = at(p, default_chain[i]).value;
    edit(default_chain[i], i == 0 ? rewrite_cmdline(v, policy, vendor) : strip_policy_params(v));
  }
  if (default_chain.empty()) {
    auto& main = lines[0];
    std::string add = std::string(kGrubCmdlineDefault) + "=\"" + join_cmdline(policy_params(policy, vendor)) + "\"";
    if (main.back().empty()) {
      main.back() = add;
      main.push_back("");
    } else {
      main.push_back(add);
    }
    edited.push_back({0, main.size() - (main.back().empty() ? 1 : 0)});
  }

  std::vector<GrubSource> result;
  for (std::size_t f = 0; f < sources.size(); ++f) result.push_back({sources[f].name, join_lines(lines[f])});

  // Validation: the edited lines parse back as the same assignments, and the result requests POLICY.
  Parsed q;
  try {
    q = parse_all(result);
  } catch (const InputError& e) {
    throw Error(std::string("refusing to write an unparsable GRUB file: ") + e.what(), ExitCode::bad_input);
  }
  for (const auto& loc : edited) {
    bool found = false;
    for (const auto& a : q.files[loc.file]) found = found || (a.line == loc.line && is_cmdline_key(a.key));
    if (!found)
      throw Error(fmt::format("refusing to write {}: line {} does not parse back as an assignment",
                              sources[loc.file].name, loc.line),
                  ExitCode::bad_input);
  }
  std::string cmdline = grub_kernel_cmdline(result);
  if (requested_policy(cmdline, vendor) != policy)
    throw Error(fmt::format("refusing to write {}: the result does not request {} on {}: {}", sources[0].name,
                            to_string(policy), to_string(vendor), cmdline),
                ExitCode::bad_input);
  std::vector<std::string> deciding = parse_request(cmdline, vendor).tokens;
  if (deciding.size() != policy_params(policy, vendor).size())
    throw Error(fmt::format("refusing to write {}: the result still holds IOMMU parameters iommuvm did not write "
                            "(through a variable it does not edit?): {}",
                            sources[0].name, join_cmdline(deciding)),
                ExitCode::bad_input);
  std::vector<std::string> out;
  for (auto& s : result) out.push_back(std::move(s.text));
  return out;
}

std::string grub_set_policy(std::string_view text, Policy policy, Vendor vendor) {
  return grub_set_policy(std::vector<GrubSource>{{"grub", std::string(text)}}, policy, vendor).front();
}

std::string grub_backup_template(std::string_view path, std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return fmt::format("{}.iommuvm-{}-XXXXXX", path, buf);
}

}  // namespace iommuvm::policy
