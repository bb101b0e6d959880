#!/usr/bin/env python3
"""Checks of the operations material (packaging/prometheus, packaging/grafana)
against what memobserver really serves.

A PromQL parser (tokenizer and recursive descent, precedence as in
Prometheus's generated parser) finds every vector selector, label matcher,
grouping label and `$labels.x` / `{{x}}` reference, and follows which labels
each subexpression yields, so a label that an aggregation has removed is
caught as well as a misspelled metric.

  ops_check.py selftest
  ops_check.py exprs RULES DASHBOARD           every expression, one JSON per line
  ops_check.py dashboard DASHBOARD             the dashboard's structure
  ops_check.py names RULES DASHBOARD SCRAPE    names and labels against a scrape
  ops_check.py names-negative RULES DASHBOARD SCRAPE
                                               mistakes injected into copies
                                               must each be reported
  ops_check.py promrules RULES DASHBOARD OUT   a rules file promtool can check,
                                               one recording rule per dashboard
                                               expression (variables substituted)
  ops_check.py grafana-ts DASHBOARD SCHEMA_DIR OUT.ts
                                               the dashboard typed with Grafana's
                                               schema (@grafana/schema), for tsc
  ops_check.py mutate RULES TESTS              each mutation of the rules must
                                               fail `promtool test rules`
  ops_check.py query URL RULES DASHBOARD       every expression runs on a real
                                               Prometheus; the rules are healthy

Exit status 0 when everything holds, 1 with one line per problem otherwise.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

# ---------------------------------------------------------------- tokenizer

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile"}
# aggregations whose first argument is a parameter, not the vector
AGG_PARAM = {"count_values", "bottomk", "topk", "quantile"}
SET_OPS = {"and", "or", "unless"}
COMPARISONS = {"==", "!=", "<=", ">=", "<", ">"}
# binary operators by precedence, loosest first; ^ is right-associative
PRECEDENCE = [{"or"}, {"and", "unless"}, COMPARISONS, {"+", "-"},
              {"*", "/", "%", "atan2"}, {"^"}]
DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_:]*")


class ParseError(Exception):
    pass


class Tok:
    def __init__(self, kind, val, pos):
        self.kind, self.val, self.pos = kind, val, pos

    def __repr__(self):
        return f"{self.kind}:{self.val!r}"


def unquote(s, pos):
    """The value of a PromQL string literal (Go's quoting rules)."""
    q = s[0]
    body = s[1:-1]
    if q == "`":
        return body
    out, i = [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
              "v": "\v", "\\": "\\", "'": "'", '"': '"'}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise ParseError(f"unterminated escape at {pos}")
        e = body[i]
        if e in simple:
            out.append(simple[e])
            i += 1
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            h = body[i + 1:i + 1 + n]
            if len(h) != n or not re.fullmatch(r"[0-9a-fA-F]+", h):
                raise ParseError(f"bad \\{e} escape at {pos}")
            out.append(chr(int(h, 16)))
            i += 1 + n
        elif e in "01234567":
            o = body[i:i + 3]
            if not re.fullmatch(r"[0-7]{3}", o):
                raise ParseError(f"bad octal escape at {pos}")
            out.append(chr(int(o, 8)))
            i += 3
        else:
            raise ParseError(f"unknown escape \\{e} at {pos}")
    return "".join(out)


def tokenize(src):
    toks, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":  # a comment runs to the end of the line
            while i < n and src[i] != "\n":
                i += 1
            continue
        if c in "\"'`":
            j = i + 1
            while j < n and src[j] != c:
                if src[j] == "\\" and c != "`":
                    j += 1
                elif src[j] == "\n" and c != "`":
                    raise ParseError(f"newline in string at {i}")
                j += 1
            if j >= n:
                raise ParseError(f"unterminated string at {i}")
            toks.append(Tok("str", unquote(src[i:j + 1], i), i))
            i = j + 1
            continue
        m = DURATION.match(src, i)
        if m and not (m.end() < n and (src[m.end()].isalnum() or src[m.end()] == "_")):
            toks.append(Tok("dur", m.group(), i))
            i = m.end()
            continue
        m = NUMBER.match(src, i)
        if m and (c.isdigit() or c == "."):
            if m.end() < n and (src[m.end()].isalpha() or src[m.end()] == "_"):
                raise ParseError(f"bad number or duration at {i}")
            toks.append(Tok("num", m.group(), i))
            i = m.end()
            continue
        m = IDENT.match(src, i)
        if m:
            w = m.group()
            low = w.lower()
            if low in ("inf", "nan"):
                toks.append(Tok("num", w, i))
            else:
                toks.append(Tok("id", w, i))
            i = m.end()
            continue
        for op in ("=~", "!~", "==", "!=", "<=", ">=", "<", ">", "=", "+", "-", "*", "/",
                   "%", "^", "(", ")", "{", "}", "[", "]", ",", ":", "@"):
            if src.startswith(op, i):
                toks.append(Tok("op", op, i))
                i += len(op)
                break
        else:
            raise ParseError(f"unexpected character {c!r} at {i}")
    toks.append(Tok("eof", None, n))
    return toks


# ---------------------------------------------------------------- parser
# AST nodes are dicts with "t" (type) and type-specific fields.

class Parser:
    def __init__(self, src):
        self.src = src
        self.toks = tokenize(src)
        self.i = 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, kind, val=None):
        t = self.peek()
        if t.kind == kind and (val is None or t.val == val):
            self.i += 1
            return t
        return None

    def expect(self, kind, val=None):
        t = self.accept(kind, val)
        if not t:
            got = self.peek()
            raise ParseError(f"expected {val or kind} at {got.pos}, got {got.val!r}")
        return t

    def parse(self):
        e = self.expr(0)
        if self.peek().kind != "eof":
            raise ParseError(f"unexpected {self.peek().val!r} at {self.peek().pos}")
        return e

    def binop_at(self, level):
        t = self.peek()
        if t.kind == "op" and t.val in PRECEDENCE[level]:
            return t.val
        if t.kind == "id" and t.val.lower() in PRECEDENCE[level]:
            return t.val.lower()
        return None

    def expr(self, level):
        if level == len(PRECEDENCE):
            return self.unary()
        lhs = self.expr(level + 1)
        while True:
            op = self.binop_at(level)
            if not op:
                return lhs
            self.next()
            mod = self.bin_modifiers(op)
            # ^ is right-associative: its right side may hold another ^
            rhs = self.expr(level if op == "^" else level + 1)
            lhs = {"t": "bin", "op": op, "lhs": lhs, "rhs": rhs, **mod}

    def bin_modifiers(self, op):
        mod = {"bool": False, "match": None, "on": [], "group": None, "include": []}
        if self.accept("id", "bool"):
            if op not in COMPARISONS:
                raise ParseError(f"bool on non-comparison {op}")
            mod["bool"] = True
        for kw in ("on", "ignoring"):
            if self.accept("id", kw):
                mod["match"] = kw
                mod["on"] = self.label_list()
                for g in ("group_left", "group_right"):
                    if self.accept("id", g):
                        mod["group"] = g
                        if self.peek().kind == "op" and self.peek().val == "(":
                            mod["include"] = self.label_list()
        return mod

    def label_list(self):
        self.expect("op", "(")
        names = []
        while not self.accept("op", ")"):
            t = self.next()
            if t.kind == "id" or (t.kind == "num" and t.val.lower() in ("inf", "nan")):
                names.append(t.val)
            elif t.kind == "str":  # quoted label names (UTF-8 names)
                names.append(t.val)
            else:
                raise ParseError(f"bad label name {t.val!r} at {t.pos}")
            if not self.accept("op", ","):
                self.expect("op", ")")
                break
        return names

    def unary(self):
        t = self.peek()
        if t.kind == "op" and t.val in "+-":
            self.next()
            e = self.unary()
            return {"t": "unary", "op": t.val, "e": e}
        return self.postfix(self.primary())

    def postfix(self, e):
        while True:
            t = self.peek()
            if t.kind == "op" and t.val == "[":
                self.next()
                rng = self.duration()
                if self.accept("op", ":"):
                    step = None
                    if self.peek().kind == "dur":
                        step = self.duration()
                    self.expect("op", "]")
                    e = {"t": "subquery", "e": e, "range": rng, "step": step}
                else:
                    self.expect("op", "]")
                    if e["t"] != "sel":
                        raise ParseError(f"range on a non-selector at {t.pos}")
                    e = {"t": "matrix", "e": e, "range": rng}
            elif t.kind == "id" and t.val == "offset":
                self.next()
                neg = bool(self.accept("op", "-"))
                d = self.duration()
                e = {"t": "offset", "e": e, "d": ("-" if neg else "") + d}
            elif t.kind == "op" and t.val == "@":
                self.next()
                if self.peek().kind == "id" and self.peek().val in ("start", "end"):
                    self.next()
                    self.expect("op", "(")
                    self.expect("op", ")")
                else:
                    self.accept("op", "-")
                    self.expect("num")
                e = {"t": "at", "e": e}
            else:
                return e

    def duration(self):
        t = self.next()
        if t.kind == "dur":
            return t.val
        if t.kind == "num" and re.fullmatch(r"\d+", t.val):
            return t.val + "s"
        raise ParseError(f"expected a duration at {t.pos}, got {t.val!r}")

    def primary(self):
        t = self.peek()
        if t.kind == "num":
            self.next()
            return {"t": "num", "v": t.val}
        if t.kind == "dur":
            raise ParseError(f"duration {t.val} where a value belongs at {t.pos}")
        if t.kind == "str":
            self.next()
            return {"t": "str", "v": t.val}
        if t.kind == "op" and t.val == "(":
            self.next()
            e = self.expr(0)
            self.expect("op", ")")
            return {"t": "paren", "e": e}
        if t.kind == "op" and t.val == "{":
            return self.selector(None)
        if t.kind == "id":
            nxt = self.peek(1)
            name = t.val
            if name.lower() in AGGREGATIONS and (
                    (nxt.kind == "op" and nxt.val == "(") or
                    (nxt.kind == "id" and nxt.val in ("by", "without"))):
                return self.aggregation()
            if nxt.kind == "op" and nxt.val == "(":
                return self.call()
            if name in ("by", "without", "on", "ignoring", "group_left", "group_right",
                        "bool", "offset") or name.lower() in SET_OPS or name == "atan2":
                raise ParseError(f"unexpected keyword {name!r} at {t.pos}")
            self.next()
            return self.selector(name)
        raise ParseError(f"unexpected {t.val!r} at {t.pos}")

    def selector(self, name):
        matchers = []
        if self.accept("op", "{"):
            while not self.accept("op", "}"):
                lt = self.next()
                if lt.kind not in ("id", "str") and not (lt.kind == "num" and
                                                        lt.val.lower() in ("inf", "nan")):
                    raise ParseError(f"bad label name {lt.val!r} at {lt.pos}")
                if lt.kind == "str" and self.peek().kind == "op" and self.peek().val in (",", "}"):
                    # {"metric.name"}: a quoted metric name
                    if name:
                        raise ParseError(f"two metric names at {lt.pos}")
                    name = lt.val
                else:
                    op = self.next()
                    if op.kind != "op" or op.val not in ("=", "!=", "=~", "!~"):
                        raise ParseError(f"expected a matcher operator at {op.pos}")
                    v = self.expect("str")
                    matchers.append((lt.val, op.val, v.val))
                if not self.accept("op", ","):
                    self.expect("op", "}")
                    break
        if name is None and not any(op in ("=", "=~") and not re.fullmatch(r"(\.\*)?", v)
                                    for _, op, v in matchers):
            raise ParseError("a selector without a metric name needs a non-empty matcher")
        if name is not None and any(ln == "__name__" for ln, _, _ in matchers):
            raise ParseError(f"metric name {name} given twice")
        return {"t": "sel", "name": name, "matchers": matchers}

    def aggregation(self):
        op = self.next().val.lower()
        grouping, labels = None, []
        if self.peek().kind == "id" and self.peek().val in ("by", "without"):
            grouping = self.next().val
            labels = self.label_list()
        self.expect("op", "(")
        args = self.args()
        if grouping is None and self.peek().kind == "id" and self.peek().val in ("by", "without"):
            grouping = self.next().val
            labels = self.label_list()
        want = 2 if op in AGG_PARAM else 1
        if len(args) != want:
            raise ParseError(f"{op} takes {want} argument(s), got {len(args)}")
        return {"t": "agg", "op": op, "grouping": grouping, "labels": labels,
                "param": args[0] if want == 2 else None, "e": args[-1]}

    def call(self):
        name = self.next().val
        if name not in FUNCTIONS:
            raise ParseError(f"unknown function {name}")
        self.expect("op", "(")
        args = self.args()
        lo, hi = FUNCTIONS[name][0], FUNCTIONS[name][1]
        if not (lo <= len(args) <= hi):
            raise ParseError(f"{name} takes {lo}..{hi} arguments, got {len(args)}")
        return {"t": "call", "f": name, "args": args}

    def args(self):
        args = []
        if self.accept("op", ")"):
            return args
        while True:
            args.append(self.expr(0))
            if self.accept("op", ")"):
                return args
            self.expect("op", ",")


INF = 99
# name: (least args, most args, what the result's labels are)
#   keep: the labels of the vector argument;  none: no labels (scalar or vector());
#   replace / join: label_replace / label_join;  absent: equality matchers;
#   dropbucket: histogram_quantile (le removed)
FUNCTIONS = {}
for f in ("abs ceil floor exp ln log2 log10 sqrt sgn round clamp clamp_min clamp_max "
          "sort sort_desc timestamp acos acosh asin asinh atan atanh cos cosh sin sinh "
          "tan tanh deg rad histogram_count histogram_sum histogram_fraction "
          "histogram_stddev histogram_stdvar").split():
    FUNCTIONS[f] = (1, 3, "keep")
for f in ("rate irate increase delta idelta deriv changes resets predict_linear "
          "holt_winters double_exponential_smoothing avg_over_time min_over_time "
          "max_over_time sum_over_time count_over_time quantile_over_time "
          "stddev_over_time stdvar_over_time last_over_time present_over_time "
          "mad_over_time").split():
    FUNCTIONS[f] = (1, 3, "keep")
FUNCTIONS.update({
    "time": (0, 0, "none"), "pi": (0, 0, "none"), "vector": (1, 1, "none"),
    "scalar": (1, 1, "none"), "minute": (0, 1, "keep"), "hour": (0, 1, "keep"),
    "day_of_month": (0, 1, "keep"), "day_of_week": (0, 1, "keep"),
    "day_of_year": (0, 1, "keep"), "days_in_month": (0, 1, "keep"),
    "month": (0, 1, "keep"), "year": (0, 1, "keep"),
    "label_replace": (5, 5, "replace"), "label_join": (3, INF, "join"),
    "absent": (1, 1, "absent"), "absent_over_time": (1, 1, "absent"),
    "histogram_quantile": (2, 2, "dropbucket"),
})
# the argument that carries the vector, for "keep"
VECTOR_ARG = {"quantile_over_time": 1, "histogram_quantile": 1, "predict_linear": 0,
              "holt_winters": 0, "double_exponential_smoothing": 0, "clamp": 0,
              "clamp_min": 0, "clamp_max": 0, "round": 0, "histogram_fraction": 2}


def parse(src):
    return Parser(src).parse()


# ---------------------------------------------------------------- analysis

TARGET_LABELS = {"instance", "job"}
OPEN = None  # a label set we cannot know (ALERTS carries every alert's labels)


class Schema:
    """Metric families and their label names: from a scrape, plus what
    Prometheus makes itself and what the rules record."""

    def __init__(self, families, types=None):
        self.families = dict(families)  # name -> set of label names
        self.types = dict(types or {})  # name -> TYPE of the family
        self.families.setdefault("up", set())
        self.families["ALERTS"] = OPEN
        self.families["ALERTS_FOR_STATE"] = OPEN
        self.synthetic = {"up", "ALERTS", "ALERTS_FOR_STATE"}

    def lookup(self, name):
        """Label names of the series called name (a histogram's _bucket etc.
        map to their family); KeyError when the endpoint serves no such name."""
        if name in self.families:
            labels = self.families[name]
        else:
            for suf, extra in (("_bucket", {"le"}), ("_sum", set()), ("_count", set()),
                               ("_created", set())):
                base = name[:-len(suf)] if name.endswith(suf) else None
                if base and base in self.families and self.families[base] is not OPEN and \
                        self.types.get(base) in ("histogram", "summary", "gaugehistogram"):
                    labels = self.families[base] | extra
                    break
            else:
                raise KeyError(name)
        return OPEN if labels is OPEN else labels | TARGET_LABELS


def parse_scrape(text):
    """{family: set of label names}, {family: type}, {families with a
    sample} from the text format."""
    families, types, sampled = {}, {}, set()
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
            families.setdefault(name, set())
            continue
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            continue
        name = m.group(1)
        fam = name
        if fam not in types:
            for suf in ("_bucket", "_sum", "_count", "_created"):
                if name.endswith(suf) and name[:-len(suf)] in types:
                    fam = name[:-len(suf)]
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"', m.group(3) or ""))
        if name.endswith("_bucket") and fam != name:
            labels.discard("le")
        families.setdefault(fam, set()).update(labels)
        sampled.add(fam)
    return families, types, sampled


def analyse(node, schema, errors, where):
    """The label names node's result carries (OPEN when unknown); problems
    appended to errors. Every selector and label name is checked."""
    t = node["t"]
    if t in ("num", "str"):
        return set()
    if t in ("paren", "offset", "at", "matrix", "subquery"):
        return analyse(node["e"], schema, errors, where)
    if t == "unary":
        return analyse(node["e"], schema, errors, where)
    if t == "sel":
        name = node["name"]
        for ln, op, v in node["matchers"]:
            if ln == "__name__" and op == "=":
                name = v
        if name is None:
            errors.append(f"{where}: selector without a fixed metric name: {node['matchers']}")
            return OPEN
        try:
            labels = schema.lookup(name)
        except KeyError:
            errors.append(f"{where}: metric {name} is not served by memobserver")
            return OPEN
        node["labels"] = labels
        for ln, op, v in node["matchers"]:
            if ln == "__name__":
                continue
            if labels is not OPEN and ln not in labels:
                errors.append(f"{where}: {name} has no label {ln} (it has {sorted(labels)})")
        return set(labels) if labels is not OPEN else OPEN
    if t == "agg":
        inner = analyse(node["e"], schema, errors, where)
        if node["param"]:
            analyse(node["param"], schema, errors, where)
        for ln in node["labels"]:
            if inner is not OPEN and ln not in inner:
                errors.append(f"{where}: {node['op']} {node['grouping']} ({ln}): "
                              f"the aggregated expression has no label {ln} "
                              f"(it has {sorted(inner)})")
        if node["op"] in ("topk", "bottomk"):
            return inner
        if node["grouping"] == "by":
            out = set(node["labels"])
        elif node["grouping"] == "without":
            out = OPEN if inner is OPEN else inner - set(node["labels"])
        else:
            out = set()
        if node["op"] == "count_values" and node["param"] and node["param"]["t"] == "str":
            out = OPEN if out is OPEN else out | {node["param"]["v"]}
        return out
    if t == "call":
        f = node["f"]
        kind = FUNCTIONS[f][2]
        res = [analyse(a, schema, errors, where) for a in node["args"]]
        if kind == "none":
            return set()
        if kind == "absent":
            a = node["args"][0]
            while a["t"] in ("matrix", "paren"):
                a = a["e"]
            if a["t"] == "sel":
                return {ln for ln, op, _ in a["matchers"] if op == "=" and ln != "__name__"}
            return set()
        if kind == "replace":
            inner = res[0]
            strs = [a.get("v") if a["t"] == "str" else None for a in node["args"][1:]]
            dst, src = strs[0], strs[2]
            if None in (dst, src):
                errors.append(f"{where}: label_replace needs string arguments")
                return inner
            if inner is not OPEN and src not in inner:
                errors.append(f"{where}: label_replace reads label {src}, "
                              f"which the expression does not have")
            return OPEN if inner is OPEN else inner | {dst}
        if kind == "join":
            inner = res[0]
            strs = [a.get("v") if a["t"] == "str" else None for a in node["args"][1:]]
            for s in strs[2:]:
                if inner is not OPEN and s not in inner:
                    errors.append(f"{where}: label_join reads label {s}, "
                                  f"which the expression does not have")
            return OPEN if inner is OPEN else inner | {strs[0]}
        idx = VECTOR_ARG.get(f, 0)
        inner = res[idx] if idx < len(res) else set()
        if kind == "dropbucket":
            return OPEN if inner is OPEN else inner - {"le"}
        return inner
    if t == "bin":
        lhs = analyse(node["lhs"], schema, errors, where)
        rhs = analyse(node["rhs"], schema, errors, where)
        scalar_l = is_scalar(node["lhs"])
        scalar_r = is_scalar(node["rhs"])
        for ln in node["on"] if node["match"] == "on" else []:
            for side, labels in (("left", lhs), ("right", rhs)):
                if labels is not OPEN and ln not in labels and not (
                        (side == "left" and scalar_l) or (side == "right" and scalar_r)):
                    errors.append(f"{where}: on ({ln}): the {side} side has no label {ln} "
                                  f"(it has {sorted(labels)})")
        for ln in node["include"]:
            other = rhs if node["group"] == "group_left" else lhs
            if other is not OPEN and ln not in other:
                errors.append(f"{where}: {node['group']} ({ln}): the other side has no "
                              f"label {ln}")
        op = node["op"]
        if scalar_l and scalar_r:
            return set()
        if scalar_l:
            return rhs
        if scalar_r:
            return lhs
        if op == "or":
            return OPEN if OPEN in (lhs, rhs) else lhs | rhs
        if op in ("and", "unless"):
            return lhs
        if node["group"] == "group_left":
            return OPEN if lhs is OPEN else lhs | set(node["include"])
        if node["group"] == "group_right":
            return OPEN if rhs is OPEN else rhs | set(node["include"])
        if lhs is OPEN:
            return OPEN
        if node["match"] == "on":
            return lhs & set(node["on"])
        if node["match"] == "ignoring":
            return lhs - set(node["on"])
        return lhs
    raise AssertionError(t)


def is_scalar(node):
    t = node["t"]
    if t == "num":
        return True
    if t in ("paren", "unary"):
        return is_scalar(node["e"])
    if t == "call":
        return node["f"] in ("time", "pi", "scalar")
    if t == "bin":
        return is_scalar(node["lhs"]) and is_scalar(node["rhs"])
    return False


def selectors(node):
    """Every vector selector in node, in order."""
    if node["t"] == "sel":
        yield node
    for k in ("e", "lhs", "rhs", "param"):
        if isinstance(node.get(k), dict):
            yield from selectors(node[k])
    for a in node.get("args", []):
        yield from selectors(a)


# ---------------------------------------------------------------- inputs

GRAFANA_DURATIONS = {"$__rate_interval": "5m", "${__rate_interval}": "5m",
                     "$__interval": "1m", "${__interval}": "1m",
                     "$__range": "1h", "${__range}": "1h"}


def grafana_substitute(expr, var_value=".*"):
    """Grafana's built-in durations made concrete; $var and ${var} in
    strings become a regex that matches anything (what "All" selects)."""
    for k, v in GRAFANA_DURATIONS.items():
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", var_value, expr)


def load_rules(path):
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc["groups"]:
        for r in g["rules"]:
            out.append((g["name"], r))
    return out


def load_dashboard(path):
    with open(path) as f:
        return json.load(f)


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:  # panels inside collapsed rows
            yield q


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.S)


def expressions(rules_path, dash_path):
    """(where, expr, kind, extra): every PromQL expression of the rules and
    the dashboard. kind: rule, record, target, variable."""
    out = []
    for group, r in load_rules(rules_path):
        name = r.get("alert") or r.get("record")
        out.append({"where": f"rules {group}/{name}", "expr": r["expr"],
                    "kind": "alert" if "alert" in r else "record", "rule": r})
    dash = load_dashboard(dash_path)
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            out.append({"where": f"panel {p.get('id')} \"{p.get('title')}\" {t.get('refId')}",
                        "expr": t.get("expr", ""), "kind": "target",
                        "legend": t.get("legendFormat", "")})
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = LABEL_VALUES.match(q or "")
        if not m:
            out.append({"where": f"variable {v.get('name')}", "expr": q, "kind": "badvar"})
            continue
        out.append({"where": f"variable {v.get('name')}", "expr": m.group(1),
                    "kind": "variable", "label": m.group(2)})
    return out


# ---------------------------------------------------------------- checks

def check_names(rules_path, dash_path, scrape_path):
    with open(scrape_path) as f:
        families, types, sampled = parse_scrape(f.read())
    schema = Schema(families, types)
    errors = []
    exprs = expressions(rules_path, dash_path)
    used = set()
    for e in exprs:
        where = e["where"]
        if e["kind"] == "badvar":
            errors.append(f"{where}: not a label_values(selector, label) query: {e['expr']!r}")
            continue
        src = grafana_substitute(e["expr"]) if e["kind"] in ("target", "variable") else e["expr"]
        try:
            ast = parse(src)
        except ParseError as x:
            errors.append(f"{where}: does not parse: {x}: {src!r}")
            continue
        # a family without series in the scrape has no labels to check against
        for s in selectors(ast):
            nm = s["name"] or next((v for ln, op, v in s["matchers"] if ln == "__name__"), None)
            if nm in types and nm not in sampled:
                errors.append(f"{where}: {nm} has no series in the scrape, "
                              f"so its labels cannot be checked")
            if nm:
                used.add(nm)
        labels = analyse(ast, schema, errors, where)
        if e["kind"] == "record":
            schema.families[e["rule"]["record"]] = OPEN if labels is OPEN else \
                labels - TARGET_LABELS
            schema.synthetic.add(e["rule"]["record"])
        if e["kind"] == "alert":
            r = e["rule"]
            have = OPEN if labels is OPEN else labels | set(r.get("labels", {}))
            for k, text in list(r.get("annotations", {}).items()) + list(
                    r.get("labels", {}).items()):
                for ln in re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", str(text)):
                    if have is not OPEN and ln not in have:
                        errors.append(f"{where}: {k} uses $labels.{ln}, which the alert's "
                                      f"series do not carry (they have {sorted(have)})")
        if e["kind"] == "target":
            for ln in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", e["legend"]):
                if labels is not OPEN and ln not in labels:
                    errors.append(f"{where}: legend uses {{{{{ln}}}}}, which the query's "
                                  f"series do not carry (they have {sorted(labels)})")
        if e["kind"] == "variable":
            if labels is not OPEN and e["label"] not in labels:
                errors.append(f"{where}: label_values of {e['label']}, which the selector's "
                              f"series do not carry")
    # the dashboard shows the seed's families, every loss counter and
    # memobserver's own cost
    dash_used = set()
    for e in exprs:
        if e["kind"] in ("target", "variable"):
            try:
                dash_used |= {s["name"] for s in selectors(parse(grafana_substitute(e["expr"])))}
            except ParseError:
                pass
    for fam in sorted(families):
        if (fam.startswith("memory_") or re.search(r"drop|error|unattributed|stale", fam) or
                fam in ("memobserver_cpu_seconds_total", "memobserver_resident_memory_bytes")) \
                and fam not in dash_used:
            errors.append(f"dashboard: no panel shows {fam}")
    return errors, exprs, used, families


# Mistakes put into a copy of the dashboard and the rules, each of which the
# names check must report (the text it must say).
INJECTIONS = [
    ("dash", "memory_unfreed_memory_bytes{", "memory_unfreed_bytes{", "memory_unfreed_bytes is not served"),
    ("dash", "rate(memobserver_dropped_events_total{", "rate(memobserver_drop_events_total{",
     "memobserver_drop_events_total is not served"),
    ("dash", "sum by (reason) (rate(memory_filtered_events_total",
     "sum by (severity) (rate(memory_filtered_events_total", "no label severity"),
    ("dash", '"{{reason}} {{instance}}"', '"{{process}} {{instance}}"', "legend uses {{process}}"),
    ("dash", 'severity=\\"critical\\", instance=~', 'level=\\"critical\\", instance=~', "no label level"),
    ("dash", "label_values(memobserver_start_time_seconds, instance)",
     "label_values(memobserver_start_time_seconds, node)", "label_values of node"),
    ("rules", "{{ $labels.reason }}", "{{ $labels.process }}", "$labels.process"),
    ("rules", "increase(memobserver_output_write_errors_total[10m])",
     "increase(memobserver_output_errors_total[10m])", "memobserver_output_errors_total is not served"),
    ("rules", "unless on (job, instance, process)", "unless on (job, instance, container_id)",
     "no label container_id"),
]


def names_negative(rules_path, dash_path, scrape_path):
    """Each injected mistake must be reported by check_names."""
    errors = []
    texts = {"rules": open(rules_path).read(), "dash": open(dash_path).read()}
    work = tempfile.mkdtemp(prefix="ops-inject.")
    try:
        for which, old, new, want in INJECTIONS:
            if old not in texts[which]:
                errors.append(f"injection {new!r}: {old!r} is not in the {which}")
                continue
            paths = {}
            for k, path in (("rules", rules_path), ("dash", dash_path)):
                paths[k] = os.path.join(work, os.path.basename(path))
                with open(paths[k], "w") as f:
                    f.write(texts[k].replace(old, new) if k == which else texts[k])
            got, _, _, _ = check_names(paths["rules"], paths["dash"], scrape_path)
            if not any(want in g for g in got):
                errors.append(f"injection {new!r} not reported (wanted '{want}'; got {got})")
    finally:
        shutil.rmtree(work)
    return errors, len(INJECTIONS)


def check_dashboard(path):
    errors = []
    dash = load_dashboard(path)
    for k in ("title", "uid", "panels", "templating", "schemaVersion", "time"):
        if k not in dash:
            errors.append(f"dashboard: no {k}")
    sv = dash.get("schemaVersion", 0)
    if not (36 <= sv <= 39):
        errors.append(f"dashboard: schemaVersion {sv} is not Grafana 9/10's (36..39)")
    if dash.get("id") is not None:
        errors.append("dashboard: id must be null for an importable dashboard")
    variables = dash.get("templating", {}).get("list", [])
    names = [v.get("name") for v in variables]
    if len(names) != len(set(names)):
        errors.append(f"dashboard: duplicate variable names {names}")
    ds = [v for v in variables if v.get("type") == "datasource"]
    if not ds or ds[0].get("query") != "prometheus":
        errors.append("dashboard: no datasource variable of type prometheus")
    dsname = ds[0]["name"] if ds else None
    for want in ("instance", "container", "process"):
        v = next((v for v in variables if v.get("name") == want), None)
        if not v or v.get("type") != "query":
            errors.append(f"dashboard: no query variable {want}")
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not LABEL_VALUES.match(q or ""):
            errors.append(f"dashboard: variable {want} is not a label_values() query")
        if v.get("definition", q) != q:
            errors.append(f"dashboard: variable {want}: definition and query differ")
        if v.get("datasource", {}).get("uid") != f"${{{dsname}}}":
            errors.append(f"dashboard: variable {want} does not use ${{{dsname}}}")
    ids, boxes = [], []
    for p in all_panels(dash):
        pid = p.get("id")
        ids.append(pid)
        where = f"panel {pid} \"{p.get('title')}\""
        if not isinstance(pid, int):
            errors.append(f"{where}: id is not an integer")
        if not p.get("title"):
            errors.append(f"{where}: no title")
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            errors.append(f"{where}: gridPos incomplete: {g}")
            continue
        if g["x"] < 0 or g["w"] <= 0 or g["x"] + g["w"] > 24:
            errors.append(f"{where}: gridPos outside the 24 columns: {g}")
        for q, other in boxes:
            if g["x"] < q["x"] + q["w"] and q["x"] < g["x"] + g["w"] and \
                    g["y"] < q["y"] + q["h"] and q["y"] < g["y"] + g["h"]:
                errors.append(f"{where}: overlaps panel {other}")
        boxes.append((g, pid))
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != f"${{{dsname}}}":
            errors.append(f"{where}: datasource is not ${{{dsname}}}")
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)) or None in refs:
            errors.append(f"{where}: refIds missing or repeated: {refs}")
        for t in targets:
            if not (t.get("expr") or "").strip():
                errors.append(f"{where}: target {t.get('refId')} has no expr")
            if t.get("datasource", {}).get("uid") not in (None, f"${{{dsname}}}"):
                errors.append(f"{where}: target {t.get('refId')} has another datasource")
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        errors.append(f"dashboard: panel ids repeated: {dup}")
    return errors


# Panel types and the modules of @grafana/schema that describe their
# options and field config.
PANEL_CFG = {"timeseries": "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
             "stat": "stat/panelcfg/x/StatPanelCfg_types.gen",
             "table": "table/panelcfg/x/TablePanelCfg_types.gen"}

# JSON carries a string enum's values, not its members: map each enum in
# Grafana's types to the union of its values, everywhere in the type.
TS_PRELUDE = """
type J<T> = T extends string ? `${T}` :
    T extends Array<infer U> ? Array<J<U>> :
    T extends object ? { [K in keyof T]: J<T[K]> } : T;
"""


def grafana_ts(dash_path, schema_dir, out_path):
    """A TypeScript module that types the dashboard, and each panel's
    options, field config and Prometheus targets, with Grafana's own
    schema types (@grafana/schema, in schema_dir); tsc --strict must accept
    it. Object literals get TypeScript's excess-property check, so an
    unknown or misspelled field is an error too."""
    dash = load_dashboard(dash_path)
    raw = os.path.join(os.path.abspath(schema_dir), "dist/esm/raw")
    lines = [f'import type {{ Dashboard }} from "{raw}/dashboard/x/dashboard_types.gen";',
             f'import type {{ PrometheusDataQuery }} from '
             f'"{raw}/composable/prometheus/dataquery/x/PrometheusDataQuery_types.gen";']
    for kind, mod in PANEL_CFG.items():
        lines.append(f'import type * as {kind}_cfg from "{raw}/composable/{mod}";')
    lines.append(TS_PRELUDE)
    lines.append(f"export const dashboard: J<Dashboard> = {json.dumps(dash, indent=1)};")
    for p in all_panels(dash):
        kind = p.get("type")
        if kind == "row":
            continue
        if kind not in PANEL_CFG:
            lines.append(f"// panel {p.get('id')}: type {kind} has no schema here")
            continue
        pid = p.get("id")
        lines.append(f"export const p{pid}_options: J<{kind}_cfg.Options> = "
                     f"{json.dumps(p.get('options', {}))};")
        custom = p.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            lines.append(f"export const p{pid}_custom: J<{kind}_cfg.FieldConfig> = "
                         f"{json.dumps(custom)};")
        for i, t in enumerate(p.get("targets", [])):
            lines.append(f"export const p{pid}_t{i}: J<PrometheusDataQuery> = {json.dumps(t)};")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return out_path


def promrules(rules_path, dash_path, out_path):
    """A rules file with one recording rule per dashboard expression, for
    `promtool check rules` to parse with Prometheus's own parser."""
    import yaml
    rules = []
    for i, e in enumerate(expressions(rules_path, dash_path)):
        if e["kind"] not in ("target", "variable"):
            continue
        rules.append({"record": f"dashboard_expr_{i}", "expr": grafana_substitute(e["expr"])})
    with open(out_path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    return len(rules)


# Mutations of the rules that their unit tests must catch: each one is
# what a careless edit would do (every occurrence of the text is changed).
MUTATIONS = [
    ("leak alert without its every-window slope guard (a plateau fires)",
     "          and\n          min_over_time(deriv(memory_unfreed_memory_bytes{process!=\"__other__\"}[10m])[30m:1m]) > 0\n",
     ""),
    ("leak alert on slope alone (a tiny growth fires)",
     ") > 1048576  # tune", ") > 0  # tune"),
    ("leak alert includes __other__", '{process!="__other__"}', ""),
    ("RSS growth without the new-series clause (a first detection is missed)",
     "(memory_rss_growth_detected_total unless memory_rss_growth_detected_total offset 15m)",
     "(memory_rss_growth_detected_total unless memory_rss_growth_detected_total)"),
    ("RSS growth without the scraped-before guard (old detections alert a new Prometheus)",
     "and on (job, instance) (memobserver_start_time_seconds offset 15m)",
     "and on (job, instance) (memobserver_start_time_seconds)"),
    ("RSS growth by changes() (a counter reset alerts)",
     "increase(memory_rss_growth_detected_total[15m]) > 0",
     "changes(memory_rss_growth_detected_total[15m]) > 0"),
    ("warning RSS growth alerts beside a critical one",
     "unless on (job, instance, process)\n          process_severity:memory_rss_growth_detected:increase15m{severity=\"critical\"}",
     "unless on (job, instance, process)\n          process_severity:memory_rss_growth_detected:increase15m{severity=\"nothing\"}"),
    ("down alert on any target",
     "up == 0\n          and on (job, instance) max_over_time(memobserver_start_time_seconds[1d])",
     "up == 0"),
    ("drops by changes() (a counter reset alerts)",
     "increase(memobserver_dropped_events_total[10m]) > 0",
     "changes(memobserver_dropped_events_total[10m]) > 0"),
    ("drops on the counter's value (a flat counter alerts)",
     "increase(memobserver_dropped_events_total[10m]) > 0",
     "memobserver_dropped_events_total > 0"),
    ("write errors by resets() blind spot (an increase is missed)",
     "increase(memobserver_output_write_errors_total[10m]) > 0",
     "resets(memobserver_output_write_errors_total[10m]) > 0"),
    ("no-probes alert on any count", "memobserver_probes_attached == 0",
     "memobserver_probes_attached >= 0"),
    ("shed alert without its threshold", "memobserver_probe_duty_cycle < 0.9",
     "memobserver_probe_duty_cycle <= 1"),
    ("CPU alert on a tenth of a core", "rate(memobserver_cpu_seconds_total[5m]) > 0.5",
     "rate(memobserver_cpu_seconds_total[5m]) > 0.05"),
    ("memory alert at 10 MB", "memobserver_resident_memory_bytes > 1073741824",
     "memobserver_resident_memory_bytes > 10000000"),
]


def mutate(rules_path, tests_path):
    errors = []
    src = open(rules_path).read()
    base = subprocess.run(["promtool", "test", "rules", tests_path], capture_output=True,
                          text=True)
    if base.returncode != 0:
        return [f"the unmutated rules fail their tests: {base.stdout[-300:]}"], 0
    work = tempfile.mkdtemp(prefix="ops-mutate.")
    try:
        for what, old, new in MUTATIONS:
            if not src.count(old):
                errors.append(f"mutation '{what}': the text to change is not in the rules")
                continue
            shutil.copy(tests_path, os.path.join(work, os.path.basename(tests_path)))
            with open(os.path.join(work, os.path.basename(rules_path)), "w") as f:
                f.write(src.replace(old, new))
            r = subprocess.run(["promtool", "test", "rules",
                                os.path.join(work, os.path.basename(tests_path))],
                               capture_output=True, text=True)
            if r.returncode == 0:
                errors.append(f"mutation '{what}' passes the unit tests")
    finally:
        shutil.rmtree(work)
    return errors, len(MUTATIONS)


def query(url, rules_path, dash_path):
    """Every expression through a real Prometheus's query API: no error; the
    rules loaded by that Prometheus all healthy."""
    errors = []

    def get(path, **params):
        u = url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(u, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as x:
            return json.load(x)

    n = 0
    for e in expressions(rules_path, dash_path):
        if e["kind"] == "badvar":
            continue
        q = grafana_substitute(e["expr"]) if e["kind"] in ("target", "variable") else e["expr"]
        r = get("/api/v1/query", query=q)
        n += 1
        if r.get("status") != "success":
            errors.append(f"{e['where']}: Prometheus says {r.get('errorType')}: {r.get('error')}")
        if e["kind"] == "variable":
            # what Grafana asks for label_values(selector, label)
            # (container_id is empty, which Prometheus drops, for host processes)
            r = get(f"/api/v1/label/{e['label']}/values", **{"match[]": q})
            if r.get("status") != "success" or (not r.get("data") and
                                                 e["label"] != "container_id"):
                errors.append(f"{e['where']}: no values of {e['label']} for {q}: {r}")
    r = get("/api/v1/rules")
    groups = r.get("data", {}).get("groups", [])
    want = {(g, rr.get("alert") or rr.get("record")) for g, rr in load_rules(rules_path)}
    seen = set()
    for g in groups:
        for rr in g["rules"]:
            seen.add((g["name"], rr["name"]))
            if rr.get("health") != "ok":
                errors.append(f"rule {g['name']}/{rr['name']}: health {rr.get('health')}: "
                              f"{rr.get('lastError')}")
            elif rr.get("lastEvaluation", "").startswith("0001"):
                errors.append(f"rule {g['name']}/{rr['name']}: never evaluated")
    for w in sorted(want - seen):
        errors.append(f"rule {w[0]}/{w[1]}: not loaded by Prometheus")
    return errors, n


# ---------------------------------------------------------------- self-test

def selftest():
    fams = {
        "memory_unfreed_memory_bytes": {"process", "container_id"},
        "memory_rss_growth_detected_total": {"process", "severity"},
        "memobserver_dropped_events_total": {"reason"},
        "memobserver_start_time_seconds": set(),
        "req_duration_seconds": set(),
        "weird:name_total": {"a"},
    }
    types = {"req_duration_seconds": "histogram"}
    fails = []

    def labels_of(expr):
        errs = []
        out = analyse(parse(expr), Schema(fams, types), errs, "t")
        return out, errs

    def names(expr):
        return [s["name"] or dict((ln, v) for ln, _, v in s["matchers"]).get("__name__")
                for s in selectors(parse(expr))]

    cases_names = [
        # functions, by-clauses before and after, strings with braces and
        # quotes, offsets, subqueries, comments, keywords as label names
        ('sum by (process) (rate(memory_unfreed_memory_bytes{process="a{b}\\"c"}[5m]))',
         ["memory_unfreed_memory_bytes"]),
        ("sum(rate(memobserver_dropped_events_total[5m])) by (reason)",
         ["memobserver_dropped_events_total"]),
        ("min_over_time(deriv(memory_unfreed_memory_bytes[10m])[30m:1m]) > 0 # rate(fake[1m])",
         ["memory_unfreed_memory_bytes"]),
        ("memory_unfreed_memory_bytes - memory_unfreed_memory_bytes offset 30m > 1e6",
         ["memory_unfreed_memory_bytes", "memory_unfreed_memory_bytes"]),
        ('{__name__="memobserver_start_time_seconds"}', ["memobserver_start_time_seconds"]),
        ('label_replace(memory_unfreed_memory_bytes, "x", "$1", "process", "(.*)")',
         ["memory_unfreed_memory_bytes"]),
        ("histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
         ["req_duration_seconds_bucket"]),
        ("weird:name_total and on (a) vector(1)", ["weird:name_total"]),
        ("-memory_unfreed_memory_bytes ^ 2 ^ 0.5", ["memory_unfreed_memory_bytes"]),
        ("count(memory_unfreed_memory_bytes) or vector(0)", ["memory_unfreed_memory_bytes"]),
        ('time() - memobserver_start_time_seconds @ 1700000000', ["memobserver_start_time_seconds"]),
        ("`raw` == 'single'", []),
        ("topk(5, memory_unfreed_memory_bytes) by (process)", ["memory_unfreed_memory_bytes"]),
        ("sum without (container_id) (memory_unfreed_memory_bytes)",
         ["memory_unfreed_memory_bytes"]),
        ("rate(memobserver_dropped_events_total[1h30m:]) and inf > NaN",
         ["memobserver_dropped_events_total"]),
        ("sum(memory_unfreed_memory_bytes) by (process) / on(process) group_left "
         "sum(memory_rss_growth_detected_total) by (process)",
         ["memory_unfreed_memory_bytes", "memory_rss_growth_detected_total"]),
    ]
    for expr, want in cases_names:
        try:
            got = names(expr)
        except ParseError as x:
            fails.append(f"names {expr!r}: {x}")
            continue
        if got != want:
            fails.append(f"names {expr!r}: got {got}, want {want}")

    cases_labels = [
        ("sum by (process) (memory_unfreed_memory_bytes)", {"process"}, []),
        ("sum(memory_unfreed_memory_bytes) by (process, container_id)",
         {"process", "container_id"}, []),
        ("sum by (reason) (memory_unfreed_memory_bytes)", ..., ["no label reason"]),
        ("sum by (process) (sum by (container_id) (memory_unfreed_memory_bytes))", ...,
         ["no label process"]),
        ('memory_unfreed_memory_bytes{severity="x"}', ..., ["has no label severity"]),
        ('memory_unfreed_memory_bytes{instance=~".*", job="j"}',
         {"process", "container_id", "instance", "job"}, []),
        ("memory_unfreed_memory_bytes * on (severity) memory_rss_growth_detected_total", ...,
         ["left side has no label severity"]),
        ("memory_unfreed_memory_bytes * on (process) memory_rss_growth_detected_total",
         {"process"}, []),
        ("memory_unfreed_memory_bytes / ignoring (container_id) memory_rss_growth_detected_total",
         {"process", "instance", "job"}, []),
        ('label_replace(sum by (container_id) (memory_unfreed_memory_bytes), "c", "$1", '
         '"container_id", "(.*)")', {"container_id", "c"}, []),
        ('label_replace(sum by (process) (memory_unfreed_memory_bytes), "c", "$1", '
         '"container_id", "(.*)")', ..., ["reads label container_id"]),
        ("memobserver_dropped_events_total > 0 and memory_unfreed_memory_bytes",
         {"reason", "instance", "job"}, []),
        ("memory_unfreed_memory_bytes or memobserver_dropped_events_total",
         {"process", "container_id", "reason", "instance", "job"}, []),
        ('absent(memobserver_start_time_seconds{job="x"})', {"job"}, []),
        ("memobserver_made_up_total", ..., ["not served"]),
        ("rate(memory_unfreed_memory_bytes_total[5m])", ..., ["not served"]),
        ("sum by (le) (req_duration_seconds_bucket)", {"le"}, []),
        ('ALERTS{alertname="X", anything="y"}', OPEN, []),
        ("time() - memobserver_start_time_seconds", {"instance", "job"}, []),
        ('count_values("v", memory_unfreed_memory_bytes)', {"v"}, []),
    ]
    for expr, want, errs_want in cases_labels:
        try:
            got, errs = labels_of(expr)
        except ParseError as x:
            fails.append(f"labels {expr!r}: {x}")
            continue
        if want is not ... and got != want:
            fails.append(f"labels {expr!r}: got {got}, want {want}")
        for w in errs_want:
            if not any(w in e for e in errs):
                fails.append(f"labels {expr!r}: no error '{w}' in {errs}")
        if not errs_want and errs:
            fails.append(f"labels {expr!r}: unexpected errors {errs}")

    bad = [
        "sum(memory_unfreed_memory_bytes",            # unbalanced
        "rate(memory_unfreed_memory_bytes[5x])",      # bad duration
        'memory_unfreed_memory_bytes{process="a}',    # unterminated string
        "memory_unfreed_memory_bytes{process=a}",     # unquoted value
        "rate(sum(memory_unfreed_memory_bytes)[5m])",  # range on a non-selector
        "frobnicate(memory_unfreed_memory_bytes)",    # unknown function
        "topk(memory_unfreed_memory_bytes)",          # missing parameter
        "memory_unfreed_memory_bytes +",              # dangling operator
        "{}",                                         # no name, no matcher
        "rate(x[$__rate_interval])",                  # unsubstituted variable
    ]
    for expr in bad:
        try:
            parse(expr)
            fails.append(f"accepted invalid {expr!r}")
        except ParseError:
            pass

    # precedence: and binds tighter than or, ^ is right-associative, the
    # comparison is looser than arithmetic
    ast = parse("a or b and c")
    if not (ast["op"] == "or" and ast["rhs"]["op"] == "and"):
        fails.append("a or b and c: and should bind tighter")
    ast = parse("a ^ b ^ c")
    if not (ast["op"] == "^" and ast["rhs"]["t"] == "bin"):
        fails.append("a ^ b ^ c: ^ should be right-associative")
    ast = parse("a - b > 1 unless c")
    if not (ast["op"] == "unless" and ast["lhs"]["op"] == ">" and ast["lhs"]["lhs"]["op"] == "-"):
        fails.append("a - b > 1 unless c: wrong precedence")
    # a Grafana variable inside a string is substituted, outside it is an error
    if grafana_substitute('rate(x{p=~"$process"}[$__rate_interval])') != 'rate(x{p=~".*"}[5m])':
        fails.append("grafana_substitute")
    # the scrape parser: labels from samples, histogram parts folded
    fam, types, sampled = parse_scrape('# TYPE h histogram\nh_bucket{le="1",a="x"} 1\n'
                                       'h_sum 2\n# TYPE c counter\nc{b="\\"}"} 1\n'
                                       '# TYPE e gauge\n')
    if fam != {"h": {"a"}, "c": {"b"}, "e": set()} or types["h"] != "histogram" or \
            sampled != {"h", "c"}:
        fails.append(f"parse_scrape: {fam} {types} {sampled}")
    return fails


# ---------------------------------------------------------------- main

def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "selftest":
        fails = selftest()
        for f in fails:
            print(f)
        return 1 if fails else 0
    if cmd == "exprs":
        for e in expressions(*args):
            e.pop("rule", None)
            print(json.dumps(e))
        return 0
    # command: (check returning (problems, count), what a success says)
    checks = {
        "dashboard": (lambda *a: (check_dashboard(*a), 0), "dashboard structure holds"),
        "names": (lambda *a: (check_names(*a)[0], len(expressions(a[0], a[1]))),
                  "{} expressions: every metric and label is served"),
        "names-negative": (names_negative, "{} injected mistakes, each reported"),
        "mutate": (mutate, "{} mutations, each caught by the unit tests"),
        "query": (query, "{} expressions answered by Prometheus, every rule healthy"),
    }
    if cmd == "grafana-ts":
        grafana_ts(*args)
        return 0
    if cmd == "promrules":
        print(promrules(*args))
        return 0
    if cmd not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    fn, msg = checks[cmd]
    errs, n = fn(*args)
    if not errs:
        print(msg.format(n))
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
