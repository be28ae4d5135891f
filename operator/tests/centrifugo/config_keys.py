#!/usr/bin/env python3
"""Lists every key Centrifugo's configuration file accepts, read from the
config structs of its source (`internal/config/config.go` and
`internal/configtypes/*.go`: the `json` tags, `mapstructure:",squash"`
embedding, named slice types), one `path<TAB>kind` a line: `struct` (an
object whose keys are listed), `list` (a list of such objects, its element
`path[]`) or `value` (anything else, maps included).

    python3 operator/tests/centrifugo/config_keys.py CENTRIFUGO_GIT_DIR v6.9.1 \
        > operator/tests/centrifugo/v6.9.1.keys

The operator's test `the_centrifugo_config_uses_only_keys_centrifugo_knows`
checks the rendered configuration against that file.
"""

import re
import subprocess
import sys

git_dir, tag = sys.argv[1], sys.argv[2]


def show(path):
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{tag}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


files = subprocess.run(
    ["git", f"--git-dir={git_dir}", "ls-tree", "--name-only", tag, "internal/configtypes/"],
    check=True, capture_output=True, text=True,
).stdout.split()
sources = [show(f) for f in files if f.endswith(".go") and not f.endswith("_test.go")]
sources.append(show("internal/config/config.go"))

structs = {}  # name -> [(json name or None for squash, type)]
aliases = {}  # name -> type
FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([\w.\[\]*]+(?:\[[\w.]+\][\w.*]+)?)\s+`([^`]*)`")
for source in sources:
    for match in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", source, re.M | re.S):
        fields = []
        for line in match.group(2).splitlines():
            field = FIELD.match(line)
            if not field:
                continue
            name, typ, tags = field.groups()
            if name is None:  # embedded: `Type `tags``
                name = typ
            mapstructure = re.search(r'mapstructure:"([^"]*)"', tags)
            json = re.search(r'json:"([^",]*)', tags)
            if mapstructure and ",squash" in mapstructure.group(1):
                fields.append((None, typ))
            elif json and json.group(1) not in ("", "-"):
                fields.append((json.group(1), typ))
        structs[match.group(1)] = fields
    for match in re.finditer(r"^type (\w+) ([\w.\[\]*]+)\s*$", source, re.M):
        aliases[match.group(1)] = match.group(2)


def base(typ):
    return typ.lstrip("*").removeprefix("configtypes.")


def emit(path, typ, out, depth=0):
    typ = base(typ)
    if depth > 12:
        raise SystemExit(f"too deep at {path}")
    if typ in aliases and typ not in structs:
        typ = base(aliases[typ])
    if typ.startswith("[]") and base(typ[2:]) in structs:
        out.append((path, "list"))
        walk(path + "[]", base(typ[2:]), out, depth + 1)
    elif typ in structs:
        out.append((path, "struct"))
        walk(path, typ, out, depth + 1)
    else:
        out.append((path, "value"))


def walk(path, struct, out, depth):
    for name, typ in structs[struct]:
        if name is None:
            walk(path, base(typ), out, depth)
        else:
            emit(f"{path}.{name}" if path else name, typ, out, depth)


out = []
walk("", "Config", out, 0)
for path, kind in sorted(set(out)):
    print(f"{path}\t{kind}")
