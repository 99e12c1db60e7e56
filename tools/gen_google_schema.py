"""Regenerate tests/infra/google_provider_schema.json from the cdktf Google provider wheel.

Why: offline `terraform validate` needs the real `hashicorp/google` schema, and the only
PyPI artefact that carries it is `cdktf-cdktf-provider-google`, whose jsii assembly
describes every resource (16.12.1 was generated from google provider 6.50.0). CI never
runs this tool; it reads the committed, much smaller JSON.

What comes from where (all inside the wheel's `_jsii/*.jsii.tgz`):
- the jsii assembly (`package/.jsii`): which attributes and blocks exist, their types,
  required vs optional (the `...Config` structs), computed-only attributes (read-only
  getters on the resource class), and max_items=1 (a block typed as a single struct
  rather than an array of structs);
- the generated `lib/<module>/index.js` next to it: whether a collection is a list or a
  set (`type: "set"` in `...ToHclTerraform`), which jsii cannot express.

The output uses the block format of `terraform providers schema -json`.

Usage: python tools/gen_google_schema.py [--wheel PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WHEEL = "cdktf-cdktf-provider-google==16.12.1"
PROVIDER_VERSION = "6.50.0"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "infra" / "google_provider_schema.json"

RESOURCES = (
    "google_cloud_run_service_iam_member",
    "google_cloud_run_v2_service",
    "google_cloud_run_v2_service_iam_member",
    "google_cloud_scheduler_job",
    "google_cloud_tasks_queue",
    "google_cloud_tasks_queue_iam_member",
    "google_firestore_database",
    "google_firestore_field",
    "google_firestore_index",
    "google_project_iam_member",
    "google_project_service",
    "google_service_account",
    "google_service_account_iam_member",
)
DATA_SOURCES = (
    "google_client_config",
    "google_project",
    "google_service_account",
)

Json = dict[str, Any]
_LINK = re.compile(r"docs/(resources|data-sources)/\w+ (google_\w+)\}")
_HCL_ATTR = re.compile(r'(\w+): \{\s*value: [^\n]*\n\s*isBlock: (true|false),\s*type: "(\w+)"')
_CDKTF_MAPS = {
    "cdktf.StringMap": ["map", "string"],
    "cdktf.NumberMap": ["map", "number"],
    "cdktf.BooleanMap": ["map", "bool"],
    "cdktf.AnyMap": ["map", "dynamic"],
    "cdktf.StringMapList": ["list", ["map", "string"]],
    "cdktf.NumberMapList": ["list", ["map", "number"]],
    "cdktf.BooleanMapList": ["list", ["map", "bool"]],
    "cdktf.AnyMapList": ["list", ["map", "dynamic"]],
    "cdktf.IResolvable": "bool",  # cdktf returns computed booleans as IResolvable
}
_PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}


def snake(name: str) -> str:
    """jsii property name -> Terraform attribute name (cdktf camel-cases snake names)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@dataclass
class Assembly:
    """The jsii types plus the generated JavaScript, read from the wheel once."""

    types: dict[str, Json]
    js: dict[str, str]  # "src/x/index.ts" -> text of lib/x/index.js
    hcl_kinds: dict[str, dict[str, str]] = field(default_factory=dict)

    def js_for(self, jsii_type: Json) -> str:
        src = jsii_type["locationInModule"]["filename"]
        return self.js[src]

    def collection_kind(self, jsii_type: Json, owner: str, tf_name: str) -> str:
        """`list`, `set`, `struct`, ... as written in the owner's ToHclTerraform attrs."""
        key = f"{jsii_type['locationInModule']['filename']}:{owner}"
        if key not in self.hcl_kinds:
            self.hcl_kinds[key] = _hcl_kinds(self.js_for(jsii_type), owner)
        return self.hcl_kinds[key].get(tf_name, "list")


def _hcl_kinds(js: str, owner: str) -> dict[str, str]:
    """Parse the `attrs = {...}` literal of `<owner>ToHclTerraform` / synthesizeHclAttributes."""
    if owner.startswith("class:"):
        start = js.find(f"class {owner[6:]} extends")
        start = js.find("synthesizeHclAttributes() {", start)
    else:
        start = js.find(f"function {owner[0].lower()}{owner[1:]}ToHclTerraform(struct)")
    if start < 0:
        return {}
    end = js.find("Object.fromEntries", start)
    return {m.group(1): m.group(3) for m in _HCL_ATTR.finditer(js, start, end)}


def load_assembly(wheel: Path) -> Assembly:
    with zipfile.ZipFile(wheel) as zf:
        tgz = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        blob = zf.read(tgz)
    types: dict[str, Json] = {}
    js: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        for member in tar:
            if member.name == "package/.jsii":
                handle = tar.extractfile(member)
                assert handle is not None
                types = json.load(handle)["types"]
            elif member.name.startswith("package/lib/") and member.name.endswith("/index.js"):
                handle = tar.extractfile(member)
                assert handle is not None
                module = member.name[len("package/lib/") : -len("/index.js")]
                js[f"src/{module}/index.ts"] = handle.read().decode()
    if not types:
        raise SystemExit(f"{wheel}: no package/.jsii inside {tgz}")
    return Assembly(types, js)


def _element_fqn(ref: Json) -> str | None:
    """The struct fqn of an `IResolvable | Struct[]` union, else None."""
    for option in ref.get("union", {}).get("types", []):
        coll = option.get("collection")
        if coll and coll["kind"] == "array" and "fqn" in coll["elementtype"]:
            return str(coll["elementtype"]["fqn"])
    return None


def _struct_fqn(asm: Assembly, ref: Json) -> str | None:
    """The config struct behind a block-typed property (`S`, `S[]` or `IResolvable | S`)."""
    candidates = [ref, *ref.get("union", {}).get("types", [])]
    for option in candidates:
        fqn = option.get("fqn")
        if fqn and asm.types.get(fqn, {}).get("datatype"):
            return str(fqn)
    return _element_fqn(ref)


def _value_type(asm: Assembly, ref: Json, kind: str = "list") -> Any:
    """jsii type reference of an attribute -> cty type JSON."""
    if "primitive" in ref:
        return _PRIMITIVES[ref["primitive"]]
    if "union" in ref:
        options = [t for t in ref["union"]["types"] if t.get("fqn") != "cdktf.IResolvable"]
        if len(options) == 1:
            return _value_type(asm, options[0], kind)
        return "dynamic"
    if "collection" in ref:
        coll = ref["collection"]
        outer = "map" if coll["kind"] == "map" else ("set" if kind == "set" else "list")
        return [outer, _value_type(asm, coll["elementtype"])]
    fqn = ref["fqn"]
    if fqn in _CDKTF_MAPS:
        return _CDKTF_MAPS[fqn]
    return _computed_object_type(asm, fqn)


def _computed_object_type(asm: Assembly, fqn: str) -> Any:
    """A computed-only nested value (`XList` / `XOutputReference` / `XMap`) -> cty type."""
    jt = asm.types[fqn]
    base = jt.get("base", "")
    if base in ("cdktf.ComplexList", "cdktf.ComplexMap"):
        ref_fqn = re.sub(r"(List|Map)$", "OutputReference", fqn)
        obj = _computed_object_type(asm, ref_fqn)
        return ["map" if base == "cdktf.ComplexMap" else "list", obj]
    if base == "cdktf.ComplexObject":
        attrs = {
            snake(p["name"]): _value_type(asm, p["type"])
            for p in jt.get("properties", [])
            if p.get("immutable") and not p.get("static") and p["name"] != "internalValue"
        }
        return ["object", attrs]
    raise SystemExit(f"unsupported jsii type {fqn} (base {base!r})")


def build_block(asm: Assembly, struct_fqn: str, getters_fqn: str | None, owner: str) -> Json:
    """Terraform block schema from a config struct (and the class/OutputReference getters)."""
    struct = asm.types[struct_fqn]
    js = asm.js_for(struct)
    attributes: Json = {}
    blocks: Json = {}
    configured: set[str] = set()
    for prop in struct.get("properties", []):
        name = prop["name"]
        tf_name = snake(name)
        if prop.get("overrides"):
            continue  # meta-arguments such as a provider's alias are Terraform's, not schema
        configured.add(name)
        if f"{tf_name}:" not in js:
            raise SystemExit(f"{struct_fqn}.{name}: {tf_name!r} not in generated JS")
        ref = prop["type"]
        required = not prop.get("optional", False)
        kind = asm.collection_kind(struct, owner, tf_name)
        nested = _struct_fqn(asm, ref)
        if nested is not None:
            sub_getters = nested + "OutputReference"
            block = build_block(
                asm,
                nested,
                sub_getters if sub_getters in asm.types else None,
                asm.types[nested]["name"],
            )
            spec: Json = {"nesting": "single" if kind == "struct" else kind, "block": block}
            if required:
                spec["min_items"] = 1
            if "fqn" in ref and kind != "struct":
                spec["max_items"] = 1
            blocks[tf_name] = spec
            continue
        attr: Json = {"type": _value_type(asm, ref, kind)}
        attr["required" if required else "optional"] = True
        attributes[tf_name] = attr
    if getters_fqn is not None:
        for prop in asm.types[getters_fqn].get("properties", []):
            name = prop["name"]
            if (
                not prop.get("immutable")
                or prop.get("static")
                or name.endswith("Input")
                or name in configured
                or name == "internalValue"
            ):
                continue
            if f"'{snake(name)}'" not in js and f'"{snake(name)}"' not in js:
                raise SystemExit(f"{getters_fqn}.{name}: {snake(name)!r} not in generated JS")
            attributes[snake(name)] = {"type": _value_type(asm, prop["type"]), "computed": True}
    out: Json = {"attributes": dict(sorted(attributes.items()))}
    if blocks:
        out["block_types"] = dict(sorted(blocks.items()))
    return out


def build_schema(asm: Assembly) -> Json:
    found: dict[tuple[str, str], Json] = {}
    provider: Json | None = None
    for jt in asm.types.values():
        base = jt.get("base")
        if base not in (
            "cdktf.TerraformResource",
            "cdktf.TerraformDataSource",
            "cdktf.TerraformProvider",
        ):
            continue
        config_fqn = next(
            p["type"]["fqn"] for p in jt["initializer"]["parameters"] if p["name"] == "config"
        )
        if base == "cdktf.TerraformProvider":
            provider = build_block(asm, config_fqn, None, f"class:{jt['name']}")
            continue
        match = _LINK.search(jt["docs"]["summary"])
        if match is None:
            raise SystemExit(f"{jt['fqn']}: cannot find the Terraform type name")
        kind = "resources" if match.group(1) == "resources" else "data_sources"
        wanted = RESOURCES if kind == "resources" else DATA_SOURCES
        if match.group(2) in wanted:
            found[(kind, match.group(2))] = build_block(
                asm, config_fqn, jt["fqn"], f"class:{jt['name']}"
            )
    missing = [
        f"{k}/{n}"
        for k, names in (("resources", RESOURCES), ("data_sources", DATA_SOURCES))
        for n in names
        if (k, n) not in found
    ]
    if missing or provider is None:
        raise SystemExit(f"not in the assembly: {missing or 'provider'}")
    return {
        "format": "terraform providers schema -json block format",
        "generated_from": WHEEL,
        "provider_version": PROVIDER_VERSION,
        "provider": provider,
        "resources": {n: found[("resources", n)] for n in sorted(RESOURCES)},
        "data_sources": {n: found[("data_sources", n)] for n in sorted(DATA_SOURCES)},
    }


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(dest)],
        check=True,
    )
    return next(dest.glob("cdktf_cdktf_provider_google-*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded wheel of " + WHEEL)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        schema = build_schema(load_assembly(wheel))
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(
        f"wrote {args.out} ({len(schema['resources'])} resources, "
        f"{len(schema['data_sources'])} data sources)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
