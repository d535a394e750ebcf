#include "domain/regex_lite.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace beampipe::domain::regex_lite {

namespace {

using CodePoint = std::uint32_t;
using Ranges = std::vector<std::pair<CodePoint, CodePoint>>;

enum class Op {
  klass,
  match,
  jmp,
  split,
  save,
  assert_start,
  assert_end,
  word_boundary,
  not_word_boundary
};

struct Inst {
  Op op;
  std::size_t x = 0;  // jmp/split target, save slot
  std::size_t y = 0;  // split second target
  Ranges ranges;      // klass
  bool negated = false;
};

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Decodes one UTF-8 sequence at s[i]; invalid bytes decode as themselves + 0xDC00
// (never equal to a valid code point a pattern can name) and advance one byte.
CodePoint decode(std::string_view s, std::size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    CodePoint c = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    if (c >= 0x80) {
      i += 2;
      return c;
    }
  } else if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    CodePoint c = ((b0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    if (c >= 0x800) {
      i += 3;
      return c;
    }
  } else if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    CodePoint c = ((b0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
                  ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
    if (c >= 0x10000 && c <= 0x10FFFF) {
      i += 4;
      return c;
    }
  }
  ++i;
  return 0x110000u + b0;  // outside Unicode: matches only `.` and negated classes
}

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpace = {{'\t', '\r'}, {' ', ' '}};

bool in_ranges(const Ranges& r, CodePoint c) {
  for (const auto& [lo, hi] : r)
    if (c >= lo && c <= hi) return true;
  return false;
}

Ranges negate(const Ranges& in) {
  Ranges sorted = in;
  std::sort(sorted.begin(), sorted.end());
  Ranges out;
  CodePoint next = 0;
  for (const auto& [lo, hi] : sorted) {
    if (lo > next) out.emplace_back(next, lo - 1);
    if (hi + 1 > next) next = hi + 1;
  }
  if (next <= 0x10FFFF + 0x100) out.emplace_back(next, 0x10FFFF + 0x100);
  return out;
}

// Adds the other ASCII case of every letter range (for (?i)).
void fold_case(Ranges& r) {
  Ranges extra;
  for (const auto& [lo, hi] : r) {
    for (CodePoint c = std::max<CodePoint>(lo, 'A'); c <= std::min<CodePoint>(hi, 'Z'); ++c)
      extra.emplace_back(c + 32, c + 32);
    for (CodePoint c = std::max<CodePoint>(lo, 'a'); c <= std::min<CodePoint>(hi, 'z'); ++c)
      extra.emplace_back(c - 32, c - 32);
  }
  r.insert(r.end(), extra.begin(), extra.end());
}

// --- AST ---
struct Node {
  enum Kind {
    empty,
    klass,
    start,
    end,
    word_b,
    not_word_b,
    group,
    concat,
    alt,
    repeat
  } kind = empty;
  Ranges ranges;
  bool negated = false;
  int capture = -1;  // group: capture index, -1 = non-capturing
  std::vector<Node> children;
  std::size_t min = 0, max = 0;  // repeat; max == SIZE_MAX means unbounded
  bool greedy = true;
};

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  Node parse(std::size_t& groups) {
    if (p_.substr(0, 4) == "(?i)") {
      icase_ = true;
      i_ = 4;
    }
    Node n = alternation(0);
    if (i_ < p_.size()) throw Error("unmatched ')'");
    groups = captures_ + 1;
    return n;
  }

 private:
  bool more() const { return i_ < p_.size(); }
  char peek() const { return p_[i_]; }

  Node alternation(int depth) {
    if (depth > 100) throw Error("pattern nests too deeply");
    Node first = concatenation(depth);
    if (!more() || peek() != '|') return first;
    Node alt;
    alt.kind = Node::alt;
    alt.children.push_back(std::move(first));
    while (more() && peek() == '|') {
      ++i_;
      alt.children.push_back(concatenation(depth));
    }
    return alt;
  }

  Node concatenation(int depth) {
    Node cat;
    cat.kind = Node::concat;
    while (more() && peek() != '|' && peek() != ')')
      cat.children.push_back(quantified(atom(depth)));
    return cat;
  }

  std::size_t number() {
    std::size_t n = 0;
    bool any = false;
    while (more() && peek() >= '0' && peek() <= '9') {
      n = n * 10 + static_cast<std::size_t>(peek() - '0');
      if (n > 1000) throw Error("repetition count too large (max 1000)");
      ++i_;
      any = true;
    }
    if (!any) throw Error("repetition quantifier expects a valid decimal");
    return n;
  }

  Node quantified(Node atom) {
    while (more() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) {
      Node rep;
      rep.kind = Node::repeat;
      char q = peek();
      ++i_;
      if (q == '*') {
        rep.min = 0;
        rep.max = SIZE_MAX;
      } else if (q == '+') {
        rep.min = 1;
        rep.max = SIZE_MAX;
      } else if (q == '?') {
        rep.min = 0;
        rep.max = 1;
      } else {
        rep.min = number();
        rep.max = rep.min;
        if (more() && peek() == ',') {
          ++i_;
          rep.max = (more() && peek() == '}') ? SIZE_MAX : number();
        }
        if (!more() || peek() != '}') throw Error("unclosed counted repetition");
        ++i_;
        if (rep.max < rep.min) throw Error("invalid repetition range");
      }
      if (more() && peek() == '?') {
        rep.greedy = false;
        ++i_;
      }
      rep.children.push_back(std::move(atom));
      atom = std::move(rep);
    }
    return atom;
  }

  Node literal(CodePoint c) {
    Node n;
    n.kind = Node::klass;
    n.ranges = {{c, c}};
    if (icase_) fold_case(n.ranges);
    return n;
  }

  Node klass_node(Ranges r, bool negated) {
    Node n;
    n.kind = Node::klass;
    if (icase_) fold_case(r);
    n.ranges = negated ? negate(r) : std::move(r);
    return n;
  }

  std::uint32_t hex_escape() {
    std::string digits;
    if (more() && peek() == '{') {
      ++i_;
      while (more() && peek() != '}') digits.push_back(p_[i_++]);
      if (!more()) throw Error("unclosed \\x{...}");
      ++i_;
    } else {
      for (int k = 0; k < 2 && more(); ++k) digits.push_back(p_[i_++]);
    }
    if (digits.empty() || digits.size() > 6) throw Error("invalid hex escape");
    std::uint32_t v = 0;
    for (char c : digits) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) throw Error("invalid hex escape");
      v = v * 16 + static_cast<std::uint32_t>(d);
    }
    if (v > 0x10FFFF) throw Error("invalid hex escape");
    return v;
  }

  // Escape after '\'. Returns a class (ranges, negated) for class escapes, or a
  // single code point; assertions are handled by the caller.
  struct Escape {
    Ranges ranges;
    bool negated = false;
  };
  Escape escape(bool in_class) {
    if (!more()) throw Error("incomplete escape sequence");
    char c = p_[i_++];
    switch (c) {
      case 'd':
        return {kDigit, false};
      case 'D':
        return {kDigit, true};
      case 'w':
        return {kWord, false};
      case 'W':
        return {kWord, true};
      case 's':
        return {kSpace, false};
      case 'S':
        return {kSpace, true};
      case 'n':
        return {{{'\n', '\n'}}, false};
      case 't':
        return {{{'\t', '\t'}}, false};
      case 'r':
        return {{{'\r', '\r'}}, false};
      case 'f':
        return {{{'\f', '\f'}}, false};
      case 'v':
        return {{{'\v', '\v'}}, false};
      case 'x': {
        auto v = hex_escape();
        return {{{v, v}}, false};
      }
      default:
        break;
    }
    if (c >= '1' && c <= '9') throw Error("back-references are not supported");
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        static_cast<unsigned char>(c) >= 0x80)
      throw Error(std::string("unsupported escape \\") + c + (in_class ? " in class" : ""));
    auto cp = static_cast<CodePoint>(static_cast<unsigned char>(c));
    return {{{cp, cp}}, false};
  }

  Node klass() {
    bool negated = false;
    if (more() && peek() == '^') {
      negated = true;
      ++i_;
    }
    Ranges r;
    bool first = true;
    while (true) {
      if (!more()) throw Error("unclosed character class");
      if (peek() == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (peek() == '[') throw Error("nested or POSIX character classes are not supported");
      CodePoint lo;
      if (peek() == '\\') {
        ++i_;
        auto e = escape(true);
        if (e.negated || e.ranges.size() != 1 || e.ranges[0].first != e.ranges[0].second) {
          auto add = e.negated ? negate(e.ranges) : e.ranges;
          r.insert(r.end(), add.begin(), add.end());
          continue;
        }
        lo = e.ranges[0].first;
      } else {
        lo = decode(p_, i_);
      }
      if (i_ + 1 < p_.size() && peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        CodePoint hi;
        if (peek() == '\\') {
          ++i_;
          auto e = escape(true);
          if (e.negated || e.ranges.size() != 1 || e.ranges[0].first != e.ranges[0].second)
            throw Error("invalid class range");
          hi = e.ranges[0].first;
        } else {
          hi = decode(p_, i_);
        }
        if (hi < lo) throw Error("invalid class range");
        r.emplace_back(lo, hi);
      } else {
        r.emplace_back(lo, lo);
      }
    }
    return klass_node(std::move(r), negated);
  }

  Node atom(int depth) {
    char c = peek();
    if (c == '(') {
      ++i_;
      Node g;
      g.kind = Node::group;
      if (p_.substr(i_, 2) == "?:") {
        i_ += 2;
      } else if (p_.substr(i_, 3) == "?P<" ||
                 (p_.substr(i_, 2) == "?<" && p_.substr(i_, 3) != "?<=" &&
                  p_.substr(i_, 3) != "?<!")) {
        auto close = p_.find('>', i_);
        if (close == std::string_view::npos) throw Error("unclosed group name");
        i_ = close + 1;
        g.capture = static_cast<int>(++captures_);
      } else if (more() && peek() == '?') {
        throw Error("look-around and inline flags are not supported");
      } else {
        g.capture = static_cast<int>(++captures_);
      }
      g.children.push_back(alternation(depth + 1));
      if (!more() || peek() != ')') throw Error("unclosed group");
      ++i_;
      return g;
    }
    if (c == '[') {
      ++i_;
      return klass();
    }
    if (c == '*' || c == '+' || c == '?' || c == '{')
      throw Error("repetition operator missing expression");
    if (c == '.') {
      ++i_;
      return klass_node({{'\n', '\n'}}, true);
    }
    if (c == '^' || c == '$') {
      ++i_;
      Node n;
      n.kind = c == '^' ? Node::start : Node::end;
      return n;
    }
    if (c == '\\') {
      ++i_;
      if (more() && (peek() == 'b' || peek() == 'B' || peek() == 'A' || peek() == 'z')) {
        Node n;
        char a = p_[i_++];
        n.kind = a == 'b'   ? Node::word_b
                 : a == 'B' ? Node::not_word_b
                 : a == 'A' ? Node::start
                            : Node::end;
        return n;
      }
      auto e = escape(false);
      return klass_node(e.ranges, e.negated);
    }
    return literal(decode(p_, i_));
  }

  std::string_view p_;
  std::size_t i_ = 0;
  std::size_t captures_ = 0;
  bool icase_ = false;
};

class Compiler {
 public:
  std::vector<Inst> code;

  std::size_t emit(Inst inst) {
    if (code.size() >= kMaxProgramSize) throw Error("pattern compiles to too large a program");
    code.push_back(std::move(inst));
    return code.size() - 1;
  }

  void compile(const Node& n) {
    switch (n.kind) {
      case Node::empty:
        break;
      case Node::klass:
        emit({Op::klass, 0, 0, n.ranges, false});
        break;
      case Node::start:
        emit({Op::assert_start, 0, 0, {}, false});
        break;
      case Node::end:
        emit({Op::assert_end, 0, 0, {}, false});
        break;
      case Node::word_b:
        emit({Op::word_boundary, 0, 0, {}, false});
        break;
      case Node::not_word_b:
        emit({Op::not_word_boundary, 0, 0, {}, false});
        break;
      case Node::group:
        if (n.capture >= 0) emit({Op::save, 2 * static_cast<std::size_t>(n.capture), 0, {}, false});
        compile(n.children[0]);
        if (n.capture >= 0)
          emit({Op::save, 2 * static_cast<std::size_t>(n.capture) + 1, 0, {}, false});
        break;
      case Node::concat:
        for (const auto& c : n.children) compile(c);
        break;
      case Node::alt: {
        std::vector<std::size_t> jumps;
        for (std::size_t k = 0; k < n.children.size(); ++k) {
          if (k + 1 < n.children.size()) {
            auto split = emit({Op::split, 0, 0, {}, false});
            code[split].x = code.size();
            compile(n.children[k]);
            jumps.push_back(emit({Op::jmp, 0, 0, {}, false}));
            code[split].y = code.size();
          } else {
            compile(n.children[k]);
          }
        }
        for (auto j : jumps) code[j].x = code.size();
        break;
      }
      case Node::repeat: {
        for (std::size_t k = 0; k < n.min; ++k) compile(n.children[0]);
        if (n.max == SIZE_MAX) {
          auto split = emit({Op::split, 0, 0, {}, false});
          auto body = code.size();
          compile(n.children[0]);
          emit({Op::jmp, split, 0, {}, false});
          set_split(split, body, code.size(), n.greedy);
        } else {
          std::vector<std::size_t> splits;
          for (std::size_t k = n.min; k < n.max; ++k) {
            auto split = emit({Op::split, 0, 0, {}, false});
            splits.push_back(split);
            code[split].x = code.size();  // body start, fixed up below
            compile(n.children[0]);
          }
          for (auto s : splits) set_split(s, code[s].x, code.size(), n.greedy);
        }
        break;
      }
    }
  }

 private:
  void set_split(std::size_t at, std::size_t body, std::size_t exit, bool greedy) {
    code[at].x = greedy ? body : exit;
    code[at].y = greedy ? exit : body;
  }
};

bool is_word(CodePoint c) { return in_ranges(kWord, c); }

}  // namespace

struct Program {
  std::vector<Inst> code;
  std::size_t groups = 1;
};

Compiled compile(std::string_view pattern) {
  Compiled out;
  if (pattern.size() > kMaxPatternBytes) {
    out.error = "pattern is too long";
    return out;
  }
  try {
    Parser parser(pattern);
    std::size_t groups = 1;
    Node root = parser.parse(groups);
    Compiler c;
    c.emit({Op::save, 0, 0, {}, false});
    c.compile(root);
    c.emit({Op::save, 1, 0, {}, false});
    c.emit({Op::match, 0, 0, {}, false});
    auto p = std::make_shared<Program>();
    p->code = std::move(c.code);
    p->groups = groups;
    out.program = std::move(p);
  } catch (const Error& e) {
    out.error = e.what();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

std::size_t group_count(const Program& program) { return program.groups; }

std::optional<std::vector<std::optional<Span>>> search(const Program& prog,
                                                       std::string_view input) {
  if (input.size() > kMaxInputBytes) return std::nullopt;
  // Code points and their byte offsets.
  std::vector<CodePoint> cps;
  std::vector<std::size_t> offs;
  for (std::size_t i = 0; i < input.size();) {
    offs.push_back(i);
    cps.push_back(decode(input, i));
  }
  offs.push_back(input.size());
  const std::size_t n = cps.size();
  const std::size_t slots = 2 * prog.groups;
  constexpr std::size_t kUnset = SIZE_MAX;

  struct Thread {
    std::size_t pc;
    std::vector<std::size_t> caps;
  };
  std::vector<Thread> clist, nlist;
  std::vector<std::size_t> mark(prog.code.size(), SIZE_MAX);
  std::optional<std::vector<std::size_t>> matched;

  struct Frame {
    bool restore;
    std::size_t pc_or_slot;
    std::size_t old;
  };
  std::vector<Frame> stack;
  auto assert_holds = [&](Op op, std::size_t pos) {
    bool before = pos > 0 && is_word(cps[pos - 1]);
    bool after = pos < n && is_word(cps[pos]);
    switch (op) {
      case Op::assert_start:
        return pos == 0;
      case Op::assert_end:
        return pos == n;
      case Op::word_boundary:
        return before != after;
      case Op::not_word_boundary:
        return before == after;
      default:
        return false;
    }
  };
  // Follows empty transitions from pc in priority order, adding the threads that
  // wait on input (or match) to `list`. `gen` identifies the list's position.
  auto add = [&](std::vector<Thread>& list, std::size_t pc0, std::size_t pos,
                 std::vector<std::size_t> caps) {
    stack.push_back({false, pc0, 0});
    while (!stack.empty()) {
      Frame f = stack.back();
      stack.pop_back();
      if (f.restore) {
        caps[f.pc_or_slot] = f.old;
        continue;
      }
      std::size_t pc = f.pc_or_slot;
      if (mark[pc] == pos) continue;
      mark[pc] = pos;
      const Inst& inst = prog.code[pc];
      switch (inst.op) {
        case Op::jmp:
          stack.push_back({false, inst.x, 0});
          break;
        case Op::split:
          stack.push_back({false, inst.y, 0});
          stack.push_back({false, inst.x, 0});
          break;
        case Op::save:
          stack.push_back({true, inst.x, caps[inst.x]});
          caps[inst.x] = pos;
          stack.push_back({false, pc + 1, 0});
          break;
        case Op::assert_start:
        case Op::assert_end:
        case Op::word_boundary:
        case Op::not_word_boundary:
          if (assert_holds(inst.op, pos)) stack.push_back({false, pc + 1, 0});
          break;
        case Op::klass:
        case Op::match:
          list.push_back({pc, caps});
          break;
      }
    }
  };

  for (std::size_t pos = 0; pos <= n; ++pos) {
    if (!matched) add(clist, 0, pos, std::vector<std::size_t>(slots, kUnset));
    if (clist.empty()) break;
    for (auto& t : clist) {
      const Inst& inst = prog.code[t.pc];
      if (inst.op == Op::match) {
        matched = std::move(t.caps);
        break;  // lower-priority threads are cut (leftmost-first)
      }
      if (pos < n) {
        bool hit = in_ranges(inst.ranges, cps[pos]);
        if (hit != inst.negated) add(nlist, t.pc + 1, pos + 1, std::move(t.caps));
      }
    }
    clist.swap(nlist);
    nlist.clear();
  }
  if (!matched) return std::nullopt;
  std::vector<std::optional<Span>> spans(prog.groups);
  for (std::size_t g = 0; g < prog.groups; ++g) {
    auto s = (*matched)[2 * g], e = (*matched)[2 * g + 1];
    if (s != kUnset && e != kUnset) spans[g] = Span{offs[s], offs[e]};
  }
  return spans;
}

}  // namespace beampipe::domain::regex_lite
