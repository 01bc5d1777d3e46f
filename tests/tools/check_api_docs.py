#!/usr/bin/env python3
"""Lists the public entities of skipzoo's public headers that have no `///` doc comment.

Scans models/include and data/include. An entity is documented by a `///` comment on the line(s)
directly above it (template/attribute lines may sit between) or by a trailing `///<` on one of
its own lines. Checked: namespace-level declarations and the public members of classes/structs,
TORCH_ARG options, `using` aliases and constants. Not checked: enum values (the enum's comment
covers them), TORCH_MODULE(...) (its Impl class is checked), forward declarations, friends,
`= delete`/`= default` members, anonymous and `detail` namespaces, bodies of functions.
Exits 1 when something is undocumented. Standard library only.
"""
import argparse
import pathlib
import re
import sys

PUBLIC_DIRS = ("models/include", "data/include")
CLASS_HEAD = re.compile(r"^(template\s*<.*>\s*)?(class|struct|union)\s+(\w+)[^()=]*$", re.S)
PREFIX_ONLY = re.compile(r"^\s*((template\s*<[^;{]*>|\[\[[^\]]*\]\])\s*)+$", re.S)
BODY_BEFORE = re.compile(r"(\)|\bconst|\boverride|\bfinal|\bnoexcept|\bmutable)\s*$")
SKIP_STMT = re.compile(r"^((class|struct|union)\s+\w+\s*;|friend\b|using\s+namespace\b|static_assert\b"
                       r"|TORCH_MODULE\s*\()")
SPECIAL = re.compile(r"=\s*(delete|default)\s*;?\s*$")


def strip_line(line, in_block):
    """Returns (code without comments and literals, still inside /* */)."""
    out, i = [], 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 2, False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block, i = True, i + 2
        elif line[i] == '"' or line[i] == "'" and not line[i - 1:i].isalnum():  # not 1'000's separator
            quote, i = line[i], i + 1
            while i < len(line) and line[i] != quote:
                i += 2 if line[i] == "\\" else 1
            out.append(quote * 2)
            i += 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_block


def entity_name(stmt):
    """A short name for messages: "TORCH_ARG depth", "class UNetImpl", "forward()", "options"."""
    s = " ".join(stmt.split())
    m = re.match(r"TORCH_ARG\s*\(.*?,\s*(\w+)\s*\)", s)
    if m:
        return "TORCH_ARG " + m.group(1)
    m = CLASS_HEAD.match(s.split("{")[0].strip()) or re.match(r"^(enum)(\s+class)?\s+(\w+)", s)
    if m:
        return m.group(0).split(":")[0].split("{")[0].strip()
    m = re.match(r"^using\s+([\w:]+)", s)
    if m:
        return "using " + m.group(1)
    head = re.split(r"[{;]", s)[0]
    while re.search(r"<[^<>]*>", head):  # template arguments, e.g. std::function<int(int)>
        head = re.sub(r"<[^<>]*>", "", head)
    m = re.search(r"operator\s*[^\s(]+(?=\s*\()", head) or re.search(r"~?\w+(?=\s*\()", head)
    if m and (m.group(0).startswith("operator") or head.find("(") < (head.find("=") % (len(head) + 1))):
        return m.group(0) + "()"
    names = re.findall(r"\w+", re.split(r"=|\{", head)[0])
    return names[-1] if names else s[:40]


def check_file(path):
    """Yields (line, entity, documented) for every public entity in one header."""
    scopes = []  # each: [kind, access]; kind in ns, hidden, class, skip
    stmt, stmt_line, stmt_doc, stmt_depth = "", 0, False, None
    pending_doc, in_block = False, False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        code, in_block_after = strip_line(raw, in_block)
        is_doc = stripped.startswith("///") and not stripped.startswith("////") and not code.strip()
        trailing = "///<" in raw
        in_block = in_block_after
        if is_doc:
            if stmt and PREFIX_ONLY.match(stmt):
                stmt_doc = True
            pending_doc = True
            continue
        if not code.strip() or stripped.startswith("#"):  # blank, plain comment or preprocessor
            pending_doc = False
            continue
        top = scopes[-1] if scopes else ["ns", "public"]
        if top[0] == "class" and not stmt and re.match(r"^\s*(public|private|protected)\s*:\s*$", code):
            top[1] = code.strip()[:-1]
            continue
        for ch in code:
            if not stmt:  # between statements: only a closing brace or a new statement
                if ch.isspace() or ch == ";" or ch == "}" and scopes and scopes.pop():
                    continue
                stmt_line, stmt_doc, stmt_depth = number, pending_doc, len(scopes)
            # public when every scope the statement lives in is a namespace or a public section
            checkable = all(s[0] == "ns" or s == ["class", "public"] for s in scopes[:stmt_depth])
            if ch == "{" and len(scopes) == stmt_depth:
                head = " ".join(stmt.split())
                if re.match(r"^(inline\s+)?namespace\b", head):
                    hidden = not re.match(r"^(inline\s+)?namespace\s+\w", head) or "detail" in head
                    scopes.append(["hidden" if hidden else "ns", "public"])
                    stmt = ""
                    continue
                klass = CLASS_HEAD.match(head)
                if klass or head.startswith("enum"):
                    if checkable:
                        yield stmt_line, entity_name(head), stmt_doc or trailing
                    access = "private" if klass and klass.group(2) == "class" else "public"
                    scopes.append(["class" if klass else "skip", access])
                    stmt = ""
                    continue
                scopes.append(["skip", "body" if BODY_BEFORE.search(head) else "init"])
                stmt += ch
                continue
            if ch == "}" and len(scopes) == stmt_depth + 1 and scopes[-1][0] == "skip":
                kind = scopes.pop()[1]
                stmt += ch
                if kind == "body":  # a function definition ends with its body
                    if checkable and not SKIP_STMT.match(stmt.strip()):
                        yield stmt_line, entity_name(stmt), stmt_doc or trailing
                    stmt = ""
                continue
            if ch == "{":
                scopes.append(["skip", "init"])
            elif ch == "}":
                scopes.pop()
                if len(scopes) < stmt_depth:  # the end of an enum body: its last value had no ';'
                    stmt = ""
                    continue
            stmt += ch
            if ch == ";" and len(scopes) == stmt_depth:
                text = " ".join(stmt.split())
                if checkable and not SKIP_STMT.match(text) and not SPECIAL.search(text):
                    yield stmt_line, entity_name(text), stmt_doc or trailing
                stmt = ""
        if stmt:
            stmt += " "
            stmt_doc = stmt_doc or trailing
        pending_doc = False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[2],
                        help="repository root (default: two folders above this script)")
    args = parser.parse_args()
    headers = sorted(h for d in PUBLIC_DIRS for h in (args.root / d).rglob("*.h"))
    if not headers:
        print(f"check_api_docs: no headers under {args.root} ({', '.join(PUBLIC_DIRS)})")
        return 1
    total, missing = 0, 0
    for header in headers:
        rel = header.relative_to(args.root).as_posix()
        for line, entity, documented in check_file(header):
            total += 1
            if not documented:
                missing += 1
                print(f"{rel}:{line}: {entity}")
    print(f"check_api_docs: {missing} of {total} public entities in {len(headers)} headers lack a /// comment")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
