#!/usr/bin/env python3
"""protogen: generates weir's Kafka message codec from the definitions in
src/protocol/messages/*.def. Python 3 standard library only; meson runs it at build
time (src/protocol/messages/meson.build, tests/protocol/meson.build).

    protogen.py messages <out-dir> <def>...   one <api>.h/.cc per definition, plus
                                              api.h/api.cc (api keys, version table,
                                              dispatch by api key)
    protogen.py arbitrary <out-dir> <def>...  RapidCheck generators for the tests

The .def format (one file per api; `#` starts a comment):

    api Produce key=0 versions=3-12 flexible=9+ [advertised=0]
    request
      transactional_id string nullable default=null
      topic_data []TopicProduceData
        name string
        partition_data []PartitionProduceData
          index int32
          records records nullable
    response
      ...
      struct SharedStruct          # a struct referenced by name from several fields
        ...

A field line is `name type [versions] [nullable[=versions]] [tag=N] [default=V]`,
indented two spaces per nesting level; children define the struct the type names.
Versions are `vA+`, `vA-B` or `vA`; absent means every version of the message.
Types: bool int8 int16 uint16 int32 uint32 int64 float64 string bytes records uuid,
a struct name, or `[]` followed by any of those.

One function per message is generated, never one per version: each field's presence,
nullability and taggedness is a comparison with the version at run time, as in
Kafka's own generator.
"""
import os
import re
import sys

INF = 1 << 15

PRIMITIVES = {
    "bool": "bool", "int8": "int8_t", "int16": "int16_t", "uint16": "uint16_t",
    "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t", "float64": "double",
    "uuid": "Uuid",
}
SCALAR_READ = {
    "bool": "read_bool", "int8": "read_int8", "int16": "read_int16", "uint16": "read_uint16",
    "int32": "read_int32", "uint32": "read_uint32", "int64": "read_int64",
    "float64": "read_float64", "uuid": "read_uuid",
}
CPP_KEYWORDS = {
    "and", "auto", "bool", "break", "case", "catch", "char", "class", "const", "default",
    "delete", "do", "double", "else", "enum", "explicit", "export", "extern", "false",
    "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable",
    "namespace", "new", "not", "operator", "or", "private", "protected", "public",
    "register", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "template", "this", "throw", "true", "try", "typedef", "typename", "union",
    "unsigned", "using", "virtual", "void", "volatile", "while", "xor", "concept",
    "requires", "module", "import",
}
RESERVED_MEMBERS = {"info", "encode", "decode", "unknown_tagged_fields"}


class DefError(Exception):
    pass


def parse_versions(text, message_range):
    m = re.fullmatch(r"v(\d+)(\+|-(\d+))?", text)
    if not m:
        raise DefError(f"bad versions {text!r}")
    low = int(m.group(1))
    if m.group(2) == "+":
        return (low, INF)
    if m.group(3):
        return (low, int(m.group(3)))
    return (low, low)


class Field:
    def __init__(self, name, type_, versions, nullable, tag, default):
        self.name, self.type, self.versions = name, type_, versions
        self.nullable, self.tag, self.default = nullable, tag, default
        self.children = []
        self.member = name + "_" if name in CPP_KEYWORDS else name

    @property
    def is_array(self):
        return self.type.startswith("[]")

    @property
    def element(self):
        return self.type[2:] if self.is_array else self.type


class Struct:
    def __init__(self, name, fields):
        self.name, self.fields = name, fields


class Message:
    def __init__(self, api, kind):
        self.api, self.kind = api, kind
        self.name = api.name + ("Request" if kind == "request" else "Response")
        self.fields = []
        self.structs = {}  # name -> Struct, in definition order
        self.common = []   # top-level `struct` blocks


class Api:
    def __init__(self, name, key, low, high, flexible):
        self.name, self.key, self.low, self.high, self.flexible = name, key, low, high, flexible
        self.request = Message(self, "request")
        self.response = Message(self, "response")
        self.file = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def parse_def(path):
    api = None
    message = None
    stack = []  # (indent, children list)
    with open(path) as f:
        lines = f.readlines()
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        where = f"{path}:{number}"
        indent = len(line) - len(line.lstrip(" "))
        words = line.split()
        try:
            if indent == 0:
                if words[0] == "api":
                    opts = dict(w.split("=", 1) for w in words[2:])
                    low, high = (int(x) for x in opts["versions"].split("-"))
                    flex = opts["flexible"]
                    flexible = INF if flex == "none" else int(flex.rstrip("+"))
                    api = Api(words[1], int(opts["key"]), low, high, flexible)
                    api.advertised_low = int(opts.get("advertised", low))
                elif words[0] in ("request", "response"):
                    message = getattr(api, words[0])
                    stack = [(0, message.fields)]
                else:
                    raise DefError(f"unexpected {words[0]!r}")
                continue
            if indent % 2:
                raise DefError("indent by two spaces")
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if not stack:
                raise DefError("field outside a message")
            if words[0] == "struct":
                if indent != 2:
                    raise DefError("struct blocks live at the message's top level")
                struct = Struct(words[1], [])
                message.common.append(struct)
                stack.append((indent, struct.fields))
                continue
            name, type_ = words[0], words[1]
            versions = (api.low, INF)
            nullable = None
            tag = None
            default = None
            for word in words[2:]:
                if word.startswith("v"):
                    versions = parse_versions(word, (api.low, api.high))
                elif word == "nullable":
                    nullable = versions
                elif word.startswith("nullable="):
                    nullable = parse_versions(word.split("=", 1)[1], (api.low, api.high))
                elif word.startswith("tag="):
                    tag = int(word.split("=", 1)[1])
                elif word.startswith("default="):
                    default = word.split("=", 1)[1]
                else:
                    raise DefError(f"unknown attribute {word!r}")
            if name in RESERVED_MEMBERS:
                raise DefError(f"field name {name!r} is reserved by the generator")
            field = Field(name, type_, versions, nullable, tag, default)
            stack[-1][1].append(field)
            stack.append((indent, field.children))
        except (DefError, KeyError, ValueError, IndexError) as e:
            raise SystemExit(f"{where}: {e}")
    for message in (api.request, api.response):
        resolve(message, path)
    return api


def resolve(message, path):
    """Collects every struct of a message, checking names are unique and defined."""
    def visit(fields):
        for field in fields:
            if field.children:
                if field.element in message.structs:
                    raise SystemExit(f"{path}: struct {field.element} defined twice")
                message.structs[field.element] = Struct(field.element, field.children)
                visit(field.children)
    for struct in message.common:
        if struct.name in message.structs:
            raise SystemExit(f"{path}: struct {struct.name} defined twice")
        message.structs[struct.name] = struct
        visit(struct.fields)
    visit(message.fields)

    def check(fields):
        for field in fields:
            e = field.element
            if e not in PRIMITIVES and e not in ("string", "bytes", "records") \
                    and e not in message.structs:
                raise SystemExit(f"{path}: {message.name}.{field.name}: unknown type {e}")
            if field.tag is not None and field.versions[0] < message.api.flexible:
                raise SystemExit(f"{path}: tagged field {field.name} in a non-flexible version")
    check(message.fields)
    for struct in message.structs.values():
        check(struct.fields)


def struct_order(message):
    """Structs ordered so that each comes after those it contains."""
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for field in message.structs[name].fields:
            if field.element in message.structs:
                visit(field.element)
        order.append(message.structs[name])
    for field in message.fields:
        if field.element in message.structs:
            visit(field.element)
    for name in message.structs:
        visit(name)
    return order


# ---------------------------------------------------------------------------------
# C++ types and expressions


def is_struct(message, type_name):
    return type_name in message.structs


def element_cpp(message, element):
    if element in PRIMITIVES:
        return PRIMITIVES[element]
    if element == "string":
        return "std::string"
    if element in ("bytes", "records"):
        return "Bytes"
    return element


def field_cpp(message, field):
    if field.is_array:
        base = f"std::vector<{element_cpp(message, field.element)}>"
    else:
        base = element_cpp(message, field.type)
    if field.nullable is not None and field.type not in PRIMITIVES:
        return f"std::optional<{base}>"
    return base


def is_optional(field):
    return field.nullable is not None and field.type not in PRIMITIVES


def int_literal(cpp, value):
    number = int(value, 0)
    if number == 0:
        return "0"
    return f"static_cast<{cpp}>({number}LL)"


def default_init(message, field):
    """The member's initialiser: Kafka's default for the field."""
    default = field.default
    optional = is_optional(field)
    if field.type in PRIMITIVES:
        if field.type == "bool":
            return "true" if default == "true" else "false"
        if field.type == "uuid":
            return "{}"
        if field.type == "float64":
            return default if default else "0.0"
        return int_literal(PRIMITIVES[field.type], default) if default else "0"
    if optional:
        if default == "null":
            return "std::nullopt"
        if field.type == "records":
            return "std::nullopt"
        inner = field_cpp(message, field)[len("std::optional<"):-1]
        if field.type == "string" and default not in (None, '""'):
            return f'std::string("{default}")'
        return f"{inner}{{}}"
    if field.type == "string" and default not in (None, '""', "null"):
        return f'"{default}"'
    return "{}"


def non_default(message, field, value):
    """A C++ condition true when `value` differs from the field's default."""
    init = default_init(message, field)
    if field.type in PRIMITIVES:
        if field.type == "uuid":
            return f"{value} != Uuid{{}}"
        return f"{value} != {init}" if init not in ("0", "false") else \
            (f"{value}" if field.type == "bool" else f"{value} != 0")
    if is_optional(field):
        if init == "std::nullopt":
            return f"{value}.has_value()"
        if is_struct(message, field.type):
            return f"(!{value} || *{value} != {message.name}::{field.type}{{}})"
        return f"(!{value} || !{value}->empty())"
    if is_struct(message, field.type):
        return f"{value} != {message.name}::{field.type}{{}}"
    return f"!{value}.empty()"


def nullable_condition(field, api):
    """When a nullable field may be null, relative to the versions it exists in."""
    if field.nullable is None:
        return None
    low, high = field.nullable
    parts = []
    if low > max(field.versions[0], api.low):
        parts.append(f"version >= {low}")
    if high < min(field.versions[1], api.high):
        parts.append(f"version <= {high}")
    return " && ".join(parts)


def version_condition(versions, api):
    low, high = versions
    parts = []
    if low > api.low:
        parts.append(f"version >= {low}")
    if high < api.high:
        parts.append(f"version <= {high}")
    return " && ".join(parts)


# ---------------------------------------------------------------------------------
# Decoders and encoders


def read_value(message, field, element_type, dst, reader, optional, nullable_cond, indent,
               out, array=False):
    """Emits code reading one value of `element_type` into `dst`."""
    pad = "  " * indent
    api = message.api
    if element_type in SCALAR_READ:
        out.append(f"{pad}{dst} = {reader}.{SCALAR_READ[element_type]}();")
        return
    if element_type in ("string", "bytes", "records"):
        kind = "string" if element_type == "string" else "bytes"
        if optional:
            if nullable_cond == "":
                out.append(f"{pad}{dst} = {reader}.read_nullable_{kind}(flexible);")
            else:
                out.append(f"{pad}if ({nullable_cond}) {{")
                out.append(f"{pad}  {dst} = {reader}.read_nullable_{kind}(flexible);")
                out.append(f"{pad}}} else {{")
                out.append(f"{pad}  {dst} = {reader}.read_{kind}(flexible);")
                out.append(f"{pad}}}")
        else:
            out.append(f"{pad}{dst} = {reader}.read_{kind}(flexible);")
        return
    # A struct.
    if optional:
        cond = "true" if nullable_cond == "" else nullable_cond
        out.append(f"{pad}if (({cond}) && {reader}.read_int8() < 0) {{")
        out.append(f"{pad}  {dst}.reset();")
        out.append(f"{pad}}} else {{")
        out.append(f"{pad}  decode_struct({reader}, {dst}.emplace(), version);")
        out.append(f"{pad}}}")
    else:
        out.append(f"{pad}decode_struct({reader}, {dst}, version);")


FIXED_SIZES = {"bool": 1, "int8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
               "int64": 8, "float64": 8, "uuid": 16}


def min_encoded_size(message, element, version):
    """A lower bound of the bytes one value of `element` takes at `version`."""
    flexible = version >= message.api.flexible
    if element in FIXED_SIZES:
        return FIXED_SIZES[element]
    if element == "string":
        return 1 if flexible else 2
    if element in ("bytes", "records"):
        return 1 if flexible else 4
    size = 1 if flexible else 0  # the tagged-field count
    for field in message.structs[element].fields:
        low, high = field.versions
        if field.tag is not None or not (low <= version <= high):
            continue
        if field.is_array:
            size += 1 if flexible else 4
        elif field.nullable is not None and field.type in message.structs:
            size += 1
        else:
            size += min_encoded_size(message, field.type, version)
    return size


def element_size_min(message, element):
    """The smallest encoding of one array element over every version: decoders refuse
    a count that cannot fit the remaining bytes, so allocation stays proportional to
    the input."""
    api = message.api
    return max(1, min(min_encoded_size(message, element, v) for v in range(api.low, api.high + 1)))


def element_statement(element, stream, decoding):
    """The statement that reads one array element into `items` (decoding) or writes
    `item`: both directions dispatch on the element type the same way, so they share
    this one table of verbs."""
    if element in SCALAR_READ:
        verb, extra = element, ""
    elif element == "string":
        verb, extra = "string", "flexible"
    elif element in ("bytes", "records"):
        verb, extra = "bytes", "flexible"
    elif decoding:
        return f"decode_struct({stream}, items.emplace_back(), version);"
    else:
        return f"encode_struct({stream}, item, version);"
    if decoding:
        return f"items.push_back({stream}.read_{verb}({extra}));"
    return f"{stream}.write_{verb}({', '.join(a for a in ('item', extra) if a)});"


def read_field(message, field, reader, indent, out):
    pad = "  " * indent
    api = message.api
    dst = f"v.{field.member}"
    optional = is_optional(field)
    nullable_cond = nullable_condition(field, api)
    if not field.is_array:
        read_value(message, field, field.type, dst, reader, optional, nullable_cond, indent, out)
        return
    out.append(f"{pad}{{")
    out.append(f"{pad}  const int64_t count = {reader}.read_array_length(flexible);")
    if optional:
        null_ok = "true" if nullable_cond == "" else nullable_cond
        out.append(f"{pad}  if (count < 0 && ({null_ok})) {{")
        out.append(f"{pad}    {dst}.reset();")
        out.append(f"{pad}  }} else if (count < 0) {{")
    else:
        out.append(f"{pad}  if (count < 0) {{")
    out.append(f"{pad}    {reader}.fail(DecodeError::unexpected_null);")
    size_min = element_size_min(message, field.element)
    if size_min > 1:
        out.append(f"{pad}  }} else if (static_cast<size_t>(count) > {reader}.remaining() / {size_min}) {{")
        out.append(f"{pad}    {reader}.fail(DecodeError::truncated);  // cannot fit: refuse before reserving")
    out.append(f"{pad}  }} else {{")
    items = f"{dst}.emplace()" if optional else dst
    out.append(f"{pad}    auto& items = {items};")
    out.append(f"{pad}    items.clear();")
    out.append(f"{pad}    items.reserve(static_cast<size_t>(count));")
    out.append(f"{pad}    for (int64_t i = 0; i < count && {reader}.ok(); i++) {{")
    out.append(f"{pad}      {element_statement(field.element, reader, decoding=True)}")
    out.append(f"{pad}    }}")
    out.append(f"{pad}  }}")
    out.append(f"{pad}}}")


def write_value(message, field, element_type, src, writer, optional, nullable_cond, indent, out):
    pad = "  " * indent
    if element_type in PRIMITIVES:
        fn = "write_" + ("uuid" if element_type == "uuid" else element_type)
        out.append(f"{pad}{writer}.{fn}({src});")
        return
    if element_type in ("string", "bytes", "records"):
        kind = "string" if element_type == "string" else "bytes"
        if optional:
            if nullable_cond == "":
                out.append(f"{pad}{writer}.write_nullable_{kind}({src}, flexible);")
            else:
                out.append(f"{pad}if ({nullable_cond}) {{")
                out.append(f"{pad}  {writer}.write_nullable_{kind}({src}, flexible);")
                out.append(f"{pad}}} else {{")
                out.append(f'{pad}  VERIFY({src}.has_value(), "{message.name}.{field.name} '
                           f'is null in version {{}}, which does not allow it", version);')
                out.append(f"{pad}  {writer}.write_{kind}(*{src}, flexible);")
                out.append(f"{pad}}}")
        else:
            out.append(f"{pad}{writer}.write_{kind}({src}, flexible);")
        return
    if optional:
        cond = "true" if nullable_cond == "" else nullable_cond
        out.append(f"{pad}if ({cond}) {{")
        out.append(f"{pad}  {writer}.write_int8({src} ? 1 : -1);")
        out.append(f"{pad}}} else {{")
        out.append(f'{pad}  VERIFY({src}.has_value(), "{message.name}.{field.name} '
                   f'is null in version {{}}, which does not allow it", version);')
        out.append(f"{pad}}}")
        out.append(f"{pad}if ({src}) encode_struct({writer}, *{src}, version);")
    else:
        out.append(f"{pad}encode_struct({writer}, {src}, version);")


def write_field(message, field, writer, indent, out):
    pad = "  " * indent
    api = message.api
    src = f"v.{field.member}"
    optional = is_optional(field)
    nullable_cond = nullable_condition(field, api)
    if not field.is_array:
        write_value(message, field, field.type, src, writer, optional, nullable_cond, indent, out)
        return
    if optional:
        cond = "true" if nullable_cond == "" else nullable_cond
        out.append(f"{pad}if (!{src}) {{")
        out.append(f'{pad}  VERIFY({cond}, "{message.name}.{field.name} is null in version {{}}, '
                   f'which does not allow it", version);')
        out.append(f"{pad}  {writer}.write_array_length(-1, flexible);")
        out.append(f"{pad}}} else {{")
        items = f"*{src}"
    else:
        out.append(f"{pad}{{")
        items = src
    out.append(f"{pad}  const auto& items = {items};")
    out.append(f"{pad}  {writer}.write_array_length(static_cast<int64_t>(items.size()), flexible);")
    out.append(f"{pad}  for (const auto& item : items) {{")
    out.append(f"{pad}    {element_statement(field.element, writer, decoding=False)}")
    out.append(f"{pad}  }}")
    out.append(f"{pad}}}")


def guarded(cond, body_lines, pad, out):
    if cond:
        out.append(f"{pad}if ({cond}) {{")
        out.extend("  " + line for line in body_lines)
        out.append(f"{pad}}}")
    else:
        out.extend(body_lines)


def struct_functions(message, type_name, fields, out):
    api = message.api
    regular = [f for f in fields if f.tag is None]
    tagged = sorted((f for f in fields if f.tag is not None), key=lambda f: f.tag)
    uses_version = any(version_condition(f.versions, api) or
                       (f.nullable and version_condition(f.nullable, api)) or
                       f.element in message.structs for f in fields)
    flexible_expr = "true" if api.flexible <= api.low else (
        "false" if api.flexible > api.high else f"version >= {api.flexible}")

    out.append(f"void decode_struct(Reader& r, {type_name}& v, int16_t version) {{")
    out.append(f"  const bool flexible = {flexible_expr};")
    out.append("  (void)flexible;")
    out.append("  (void)version;")
    for field in regular:
        body = []
        read_field(message, field, "r", 1, body)
        guarded(version_condition(field.versions, api), body, "  ", out)
    if api.flexible <= api.high:
        out.append("  if (flexible) {")
        out.append("    TaggedFieldsReader tagged(r);")
        out.append("    uint32_t tag = 0;")
        out.append("    std::span<const uint8_t> data;")
        out.append("    while (tagged.next(tag, data)) {")
        keyword = "if"
        for field in tagged:
            cond = version_condition(field.versions, api)
            cond = f"tag == {field.tag}" + (f" && {cond}" if cond else "")
            out.append(f"      {keyword} ({cond}) {{")
            out.append("        decode_tagged_field(r, data, [&](Reader& inner) {")
            body = []
            read_field(message, field, "inner", 5, body)
            out.extend(body)
            out.append("        });")
            keyword = "} else if"
        if tagged:
            out.append("      } else {")
            out.append("        v.unknown_tagged_fields.push_back({tag, Bytes(data.begin(), data.end())});")
            out.append("      }")
        else:
            out.append("      v.unknown_tagged_fields.push_back({tag, Bytes(data.begin(), data.end())});")
        out.append("    }")
        out.append("  }")
    out.append("}")
    out.append("")

    out.append(f"void encode_struct(Writer& w, const {type_name}& v, int16_t version) {{")
    out.append(f"  const bool flexible = {flexible_expr};")
    out.append("  (void)flexible;")
    out.append("  (void)version;")
    for field in regular:
        body = []
        write_field(message, field, "w", 1, body)
        guarded(version_condition(field.versions, api), body, "  ", out)
    if api.flexible <= api.high:
        out.append("  if (flexible) {")
        out.append("    TaggedFieldsWriter tagged;")
        for field in tagged:
            cond = version_condition(field.versions, api)
            presence = non_default(message, field, f"v.{field.member}")
            cond = f"{cond} && {presence}" if cond else presence
            out.append(f"    if ({cond}) {{")
            out.append(f"      Writer tagged_writer(tagged.add({field.tag}));")
            body = []
            write_field(message, field, "tagged_writer", 3, body)
            out.extend(body)
            out.append("    }")
        out.append("    tagged.add_unknown(v.unknown_tagged_fields);")
        out.append("    tagged.write(w);")
        out.append("  }")
    out.append("}")
    out.append("")


def struct_body(message, fields, name, indent):
    pad = "  " * indent
    out = []
    for field in fields:
        out.append(f"{pad}{field_cpp(message, field)} {field.member} = {default_init(message, field)};")
    out.append(f"{pad}// Tagged fields of versions newer than this build, kept for re-encoding.")
    out.append(f"{pad}UnknownTaggedFields unknown_tagged_fields;")
    out.append(f"{pad}bool operator==(const {name}&) const = default;")
    return out


def generate_message_header(api):
    out = [
        f"// Generated by tools/protogen/protogen.py from src/protocol/messages/{api.file}.def.",
        "// Do not edit: change the definition instead.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "#include <optional>",
        "#include <string>",
        "#include <vector>",
        "",
        '#include "protocol/message_info.h"',
        '#include "protocol/wire.h"',
        "",
        "namespace weir::protocol {",
        "",
    ]
    for message in (api.request, api.response):
        # The message's structs live in a namespace of their own, complete before the
        # message itself: a struct nested in the class it is a member of is not yet
        # default-constructible there (CWG 1397), which std::optional needs.
        namespace = snake_name(message.name)
        structs = struct_order(message)
        if structs:
            out.append(f"namespace {namespace} {{")
            out.append("")
            for struct in structs:
                out.append(f"struct {struct.name} {{")
                out.extend(struct_body(message, struct.fields, struct.name, 1))
                out.append("};")
                out.append("")
            out.append(f"}}  // namespace {namespace}")
            out.append("")
        out.append(f"struct {message.name} {{")
        kind = "true" if message.kind == "request" else "false"
        flexible = api.flexible if api.flexible <= api.high else "kNeverFlexible"
        out.append(f'  static constexpr MessageInfo info{{"{message.name}", {api.key}, {kind}, '
                   f"{api.low}, {api.high}, {flexible}}};")
        out.append("")
        for struct in structs:
            out.append(f"  using {struct.name} = {namespace}::{struct.name};")
        if structs:
            out.append("")
        out.extend(struct_body(message, message.fields, message.name, 1))
        out.append("")
        out.append("  // `version` must lie in [info.version_min, info.version_max].")
        out.append("  void encode(Writer& writer, int16_t version) const;")
        out.append("  // Reads the message; failures are left in `reader`.")
        out.append("  void decode(Reader& reader, int16_t version);")
        out.append("};")
        out.append("")
    out.append("}  // namespace weir::protocol")
    return "\n".join(out) + "\n"


def generate_message_source(api):
    out = [
        f"// Generated by tools/protogen/protogen.py from src/protocol/messages/{api.file}.def.",
        f'#include "protocol/messages/{api.file}.h"',
        "",
        '#include "base/assert.h"',
        "",
        "namespace weir::protocol {",
        "namespace {",
        "",
    ]
    for message in (api.request, api.response):
        for struct in struct_order(message):
            t = f"{message.name}::{struct.name}"
            out.append(f"void decode_struct(Reader& r, {t}& v, int16_t version);")
            out.append(f"void encode_struct(Writer& w, const {t}& v, int16_t version);")
        out.append(f"void decode_struct(Reader& r, {message.name}& v, int16_t version);")
        out.append(f"void encode_struct(Writer& w, const {message.name}& v, int16_t version);")
    out.append("")
    for message in (api.request, api.response):
        for struct in struct_order(message):
            struct_functions(message, f"{message.name}::{struct.name}", struct.fields, out)
        struct_functions(message, message.name, message.fields, out)
    out.append("}  // namespace")
    out.append("")
    for message in (api.request, api.response):
        out.append(f"void {message.name}::encode(Writer& writer, int16_t version) const {{")
        out.append("  VERIFY(info.supports(version), \"{} has no version {}\", info.name, version);")
        out.append("  encode_struct(writer, *this, version);")
        out.append("}")
        out.append("")
        out.append(f"void {message.name}::decode(Reader& reader, int16_t version) {{")
        out.append("  if (!info.supports(version)) {")
        out.append("    reader.fail(DecodeError::unsupported_version);")
        out.append("    return;")
        out.append("  }")
        out.append("  decode_struct(reader, *this, version);")
        out.append("}")
        out.append("")
    out.append("}  // namespace weir::protocol")
    return "\n".join(out) + "\n"


def snake_name(name):
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def generate_registry(apis):
    apis = sorted(apis, key=lambda a: a.key)
    h = [
        "// Generated by tools/protogen/protogen.py from src/protocol/messages/*.def.",
        "// Every api weir speaks: keys, served version ranges, and dispatch by api key.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "#include <span>",
        "#include <string_view>",
        "#include <variant>",
        "",
    ]
    h += [f'#include "protocol/messages/{a.file}.h"' for a in apis]
    h += ["", "namespace weir::protocol {", "", "enum class ApiKey : int16_t {"]
    h += [f"  {snake_name(a.name)} = {a.key}," for a in apis]
    h += ["};", ""]
    h += [
        "struct ApiInfo {",
        "  ApiKey key;",
        "  std::string_view name;  // Kafka's name, e.g. \"Produce\"",
        "  int16_t version_min;",
        "  int16_t version_max;",
        "  int16_t flexible_version_min;  // kNeverFlexible when no version is flexible",
        "  // The minimum an ApiVersions response lists: version_min, except where clients",
        "  // need an older version listed to enable features (see produce.def).",
        "  int16_t advertised_version_min;",
        "};",
        "",
        "// Sorted by key. The broker's ApiVersions answer is this table.",
        "std::span<const ApiInfo> supported_apis();",
        "// Null when weir does not implement `api_key`.",
        "const ApiInfo* find_api(int16_t api_key);",
        "",
        "using RequestBody = std::variant<",
    ]
    h += [f"    {a.name}Request{',' if i + 1 < len(apis) else '>;'}" for i, a in enumerate(apis)]
    h += ["", "using ResponseBody = std::variant<"]
    h += [f"    {a.name}Response{',' if i + 1 < len(apis) else '>;'}" for i, a in enumerate(apis)]
    h += [
        "",
        "// Decodes a whole request or response body: fails on an unknown api key, an",
        "// unsupported version, malformed bytes, or bytes left over.",
        "Result<RequestBody> decode_request_body(int16_t api_key, int16_t version,",
        "                                        std::span<const uint8_t> bytes);",
        "Result<ResponseBody> decode_response_body(int16_t api_key, int16_t version,",
        "                                          std::span<const uint8_t> bytes);",
        "",
        "// Appends the body's encoding; `version` must be one the api supports.",
        "void encode_body(const RequestBody& body, int16_t version, Writer& writer);",
        "void encode_body(const ResponseBody& body, int16_t version, Writer& writer);",
        "",
        "ApiKey api_key_of(const RequestBody& body);",
        "ApiKey api_key_of(const ResponseBody& body);",
        "",
        "}  // namespace weir::protocol",
    ]
    c = [
        "// Generated by tools/protogen/protogen.py from src/protocol/messages/*.def.",
        '#include "protocol/messages/api.h"',
        "",
        "#include <algorithm>",
        "#include <array>",
        "",
        "namespace weir::protocol {",
        "namespace {",
        "",
        f"constexpr std::array<ApiInfo, {len(apis)}> kApis = {{{{",
    ]
    for a in apis:
        flex = a.flexible if a.flexible <= a.high else "kNeverFlexible"
        c.append(f'    {{ApiKey::{snake_name(a.name)}, "{a.name}", {a.low}, {a.high}, {flex}, '
                 f'{a.advertised_low}}},')
    c += [
        "}};",
        "",
        "constexpr bool sorted_by_key() {",
        "  for (size_t i = 1; i < kApis.size(); i++) {",
        "    if (kApis[i - 1].key >= kApis[i].key) return false;",
        "  }",
        "  return true;",
        "}",
        "static_assert(sorted_by_key(), \"find_api() binary-searches the table\");",
        "",
        "template <typename Body, typename Message>",
        "Result<Body> decode_whole(int16_t version, std::span<const uint8_t> bytes) {",
        "  Reader reader(bytes);",
        "  Message message;",
        "  message.decode(reader, version);",
        "  if (!reader.ok()) return unexpected(reader.error());",
        "  if (!reader.at_end()) return unexpected(DecodeError::trailing_bytes);",
        "  return Body(std::move(message));",
        "}",
        "",
        "}  // namespace",
        "",
        "std::span<const ApiInfo> supported_apis() { return kApis; }",
        "",
        "const ApiInfo* find_api(int16_t api_key) {",
        "  const auto* it = std::lower_bound(kApis.begin(), kApis.end(), api_key,",
        "      [](const ApiInfo& info, int16_t key) { return static_cast<int16_t>(info.key) < key; });",
        "  if (it == kApis.end() || static_cast<int16_t>(it->key) != api_key) return nullptr;",
        "  return &*it;",
        "}",
        "",
    ]
    for kind, body in (("request", "RequestBody"), ("response", "ResponseBody")):
        suffix = "Request" if kind == "request" else "Response"
        c.append(f"Result<{body}> decode_{kind}_body(int16_t api_key, int16_t version,")
        c.append("                                 std::span<const uint8_t> bytes) {")
        c.append("  switch (api_key) {")
        for a in apis:
            c.append(f"    case {a.key}: return decode_whole<{body}, {a.name}{suffix}>(version, bytes);")
        c.append("    default: return unexpected(DecodeError::unknown_api_key);")
        c.append("  }")
        c.append("}")
        c.append("")
        c.append(f"void encode_body(const {body}& body, int16_t version, Writer& writer) {{")
        c.append("  std::visit([&](const auto& message) { message.encode(writer, version); }, body);")
        c.append("}")
        c.append("")
        c.append(f"ApiKey api_key_of(const {body}& body) {{")
        c.append("  return std::visit([](const auto& message) {")
        c.append("    return static_cast<ApiKey>(std::decay_t<decltype(message)>::info.api_key);")
        c.append("  }, body);")
        c.append("}")
        c.append("")
    c.append("}  // namespace weir::protocol")
    return "\n".join(h) + "\n", "\n".join(c) + "\n"


# ---------------------------------------------------------------------------------
# RapidCheck generators (tests only)


def fill_value(message, field, element_type, dst, optional, nullable_here, indent, out):
    pad = "  " * indent
    if element_type in ("bool",):
        out.append(f"{pad}{dst} = *rc::gen::arbitrary<bool>();")
    elif element_type == "float64":
        out.append(f"{pad}{dst} = static_cast<double>(*rc::gen::arbitrary<int32_t>()) / 8;")
    elif element_type == "uuid":
        out.append(f"{pad}{dst} = arbitrary_uuid();")
    elif element_type in PRIMITIVES:
        out.append(f"{pad}{dst} = *rc::gen::arbitrary<{PRIMITIVES[element_type]}>();")
    elif element_type in ("string", "bytes", "records"):
        fn = "arbitrary_string()" if element_type == "string" else "arbitrary_bytes()"
        if optional and nullable_here:
            out.append(f"{pad}if (*rc::gen::inRange(0, 5) == 0) {{")
            out.append(f"{pad}  {dst} = std::nullopt;")
            out.append(f"{pad}}} else {{")
            out.append(f"{pad}  {dst} = {fn};")
            out.append(f"{pad}}}")
        else:
            out.append(f"{pad}{dst} = {fn};")
    else:
        if optional:
            if nullable_here:
                out.append(f"{pad}if (*rc::gen::inRange(0, 5) == 0) {{")
                out.append(f"{pad}  {dst} = std::nullopt;")
                out.append(f"{pad}}} else {{")
                out.append(f"{pad}  fill({dst}.emplace(), version, depth + 1);")
                out.append(f"{pad}}}")
            else:
                out.append(f"{pad}fill({dst}.emplace(), version, depth + 1);")
        else:
            out.append(f"{pad}fill({dst}, version, depth + 1);")


def fill_field(message, field, indent, out):
    pad = "  " * indent
    api = message.api
    dst = f"v.{field.member}"
    optional = is_optional(field)
    nullable_cond = nullable_condition(field, api)
    if optional and nullable_cond:
        nullable_here_var = f"({nullable_cond})"
    else:
        nullable_here_var = "true" if optional else "false"
    if not field.is_array:
        if optional and nullable_cond:
            out.append(f"{pad}if {nullable_here_var} {{")
            fill_value(message, field, field.type, dst, True, True, indent + 1, out)
            out.append(f"{pad}}} else {{")
            fill_value(message, field, field.type, dst, True, False, indent + 1, out)
            out.append(f"{pad}}}")
        else:
            fill_value(message, field, field.type, dst, optional, optional, indent, out)
        return
    out.append(f"{pad}{{")
    if optional:
        out.append(f"{pad}  if ({nullable_here_var} && *rc::gen::inRange(0, 5) == 0) {{")
        out.append(f"{pad}    {dst} = std::nullopt;")
        out.append(f"{pad}  }} else {{")
        items = f"{dst}.emplace()"
    else:
        out.append(f"{pad}  {{")
        items = dst
    out.append(f"{pad}    auto& items = {items};")
    out.append(f"{pad}    items.clear();")
    out.append(f"{pad}    const int count = depth > 3 ? 0 : *rc::gen::inRange(0, 4);")
    out.append(f"{pad}    for (int i = 0; i < count; i++) {{")
    out.append(f"{pad}      auto& item = items.emplace_back();")
    element = field.element
    if element in message.structs:
        out.append(f"{pad}      fill(item, version, depth + 1);")
    else:
        fill_value(message, field, element, "item", False, False, indent + 3, out)
    out.append(f"{pad}    }}")
    out.append(f"{pad}  }}")
    out.append(f"{pad}}}")


def fill_function(message, type_name, fields, out):
    api = message.api
    out.append(f"void fill({type_name}& v, int16_t version, int depth) {{")
    out.append("  (void)version;")
    out.append("  (void)depth;")
    for field in fields:
        body = []
        fill_field(message, field, 1, body)
        guarded(version_condition(field.versions, api), body, "  ", out)
    if api.flexible <= api.high:
        cond = "true" if api.flexible <= api.low else f"version >= {api.flexible}"
        out.append(f"  if ({cond}) v.unknown_tagged_fields = arbitrary_unknown_tagged_fields();")
    out.append("}")
    out.append("")


def generate_arbitrary(apis):
    apis = sorted(apis, key=lambda a: a.key)
    h = [
        "// Generated by tools/protogen/protogen.py: RapidCheck generators of every message",
        "// for a given version (fields absent from that version keep their defaults).",
        "#pragma once",
        "",
        "#include <rapidcheck.h>",
        "",
        '#include "protocol/messages/api.h"',
        "",
        "namespace weir::protocol::testing {",
        "",
        "rc::Gen<RequestBody> arbitrary_request(int16_t api_key, int16_t version);",
        "rc::Gen<ResponseBody> arbitrary_response(int16_t api_key, int16_t version);",
        "",
        "}  // namespace weir::protocol::testing",
    ]
    c = [
        "// Generated by tools/protogen/protogen.py.",
        '#include "arbitrary.h"',
        "",
        "namespace weir::protocol::testing {",
        "namespace {",
        "",
        "std::string arbitrary_string() {",
        "  return *rc::gen::resize(12, rc::gen::arbitrary<std::string>());",
        "}",
        "",
        "Bytes arbitrary_bytes() {",
        "  return *rc::gen::resize(24, rc::gen::arbitrary<Bytes>());",
        "}",
        "",
        "Uuid arbitrary_uuid() {",
        "  Uuid uuid;",
        "  for (auto& byte : uuid.bytes) byte = *rc::gen::arbitrary<uint8_t>();",
        "  return uuid;",
        "}",
        "",
        "// Tags far above any Kafka assigns, ascending as the wire requires.",
        "UnknownTaggedFields arbitrary_unknown_tagged_fields() {",
        "  UnknownTaggedFields fields;",
        "  if (*rc::gen::inRange(0, 8) != 0) return fields;",
        "  uint32_t tag = 1000;",
        "  const int count = *rc::gen::inRange(1, 3);",
        "  for (int i = 0; i < count; i++) {",
        "    tag += *rc::gen::inRange<uint32_t>(1, 100000);",
        "    fields.push_back({tag, arbitrary_bytes()});",
        "  }",
        "  return fields;",
        "}",
        "",
    ]
    for a in apis:
        for message in (a.request, a.response):
            for struct in struct_order(message):
                c.append(f"void fill({message.name}::{struct.name}& v, int16_t version, int depth);")
            c.append(f"void fill({message.name}& v, int16_t version, int depth);")
    c.append("")
    for a in apis:
        for message in (a.request, a.response):
            for struct in struct_order(message):
                fill_function(message, f"{message.name}::{struct.name}", struct.fields, c)
            fill_function(message, message.name, message.fields, c)
    c.append("}  // namespace")
    c.append("")
    for kind, body in (("request", "RequestBody"), ("response", "ResponseBody")):
        suffix = "Request" if kind == "request" else "Response"
        c.append(f"rc::Gen<{body}> arbitrary_{kind}(int16_t api_key, int16_t version) {{")
        c.append("  return rc::gen::exec([api_key, version]() -> " + body + " {")
        c.append("    switch (api_key) {")
        for a in apis:
            c.append(f"      case {a.key}: {{")
            c.append(f"        {a.name}{suffix} message;")
            c.append("        fill(message, version, 0);")
            c.append("        return message;")
            c.append("      }")
        c.append("    }")
        c.append('    RC_FAIL("unknown api key");')
        c.append("  });")
        c.append("}")
        c.append("")
    c.append("}  // namespace weir::protocol::testing")
    return "\n".join(h) + "\n", "\n".join(c) + "\n"


def write_if_changed(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    mode, out_dir, defs = sys.argv[1], sys.argv[2], sys.argv[3:]
    apis = [parse_def(path) for path in defs]
    keys = {}
    for api in apis:
        if api.key in keys:
            raise SystemExit(f"api key {api.key} used by {keys[api.key]} and {api.name}")
        keys[api.key] = api.name
    if mode == "messages":
        for api in apis:
            write_if_changed(os.path.join(out_dir, api.file + ".h"), generate_message_header(api))
            write_if_changed(os.path.join(out_dir, api.file + ".cc"), generate_message_source(api))
        header, source = generate_registry(apis)
        write_if_changed(os.path.join(out_dir, "api.h"), header)
        write_if_changed(os.path.join(out_dir, "api.cc"), source)
    elif mode == "arbitrary":
        header, source = generate_arbitrary(apis)
        write_if_changed(os.path.join(out_dir, "arbitrary.h"), header)
        write_if_changed(os.path.join(out_dir, "arbitrary.cc"), source)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
