"""A schema-only `hashicorp/google` provider served over Terraform's plugin protocol.

Why: `terraform validate` asks the provider for its schema (and to validate each
resource's config) but never plans or applies. Serving the real 6.50.0 schema from
the committed `google_provider_schema.json` lets real Terraform check block counts,
attribute names, types and required arguments offline, without the 100 MB Go provider.

Built on PyPI `tf`, which implements the go-plugin handshake and the gRPC service; we
bypass its attribute classes (they only model a few types and nesting modes) and hand
Terraform protobuf schemas built straight from the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tf.gen import tfplugin_pb2 as pb

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "google_provider_schema.json"
PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/google"

_NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
}

Json = dict[str, Any]


def block_to_pb(block: Json) -> Any:
    """A `terraform providers schema -json` block -> `tfplugin6.Schema.Block`."""
    attributes = [
        pb.Schema.Attribute(
            name=name,
            type=json.dumps(attr["type"], separators=(",", ":")).encode(),
            required=attr.get("required", False),
            optional=attr.get("optional", False),
            computed=attr.get("computed", False),
            sensitive=attr.get("sensitive", False),
        )
        for name, attr in sorted(block.get("attributes", {}).items())
    ]
    block_types = [
        pb.Schema.NestedBlock(
            type_name=name,
            nesting=_NESTING[nested["nesting"]],
            min_items=nested.get("min_items", 0),
            max_items=nested.get("max_items", 0),
            block=block_to_pb(nested["block"]),
        )
        for name, nested in sorted(block.get("block_types", {}).items())
    ]
    return pb.Schema.Block(attributes=attributes, block_types=block_types)


class JsonSchema:
    """Duck-types `tf.schema.Schema`: the servicer only calls `to_pb()` for validate.

    `attributes`/`block_types` stay empty: `tf` reads them only when planning or
    applying, which a schema-only provider never does.
    """

    attributes: list[Any] = []
    block_types: list[Any] = []

    def __init__(self, block: Json) -> None:
        self.block = block

    def to_pb(self) -> Any:
        return pb.Schema(version=0, block=block_to_pb(self.block))


def _element_class(type_name: str, block: Json) -> type:
    """A `tf` Resource/DataSource class whose config validation defers to Terraform core."""

    def __init__(self: object, provider: object) -> None:
        pass

    def get_name(cls: type) -> str:
        return type_name

    def get_schema(cls: type) -> JsonSchema:
        return JsonSchema(block)

    def validate(self: object, diags: object, name: str, config: object) -> None:
        # Terraform core already checked the config against the schema we served.
        return None

    return type(
        type_name,
        (),
        {
            "__init__": __init__,
            "get_name": classmethod(get_name),
            "get_schema": classmethod(get_schema),
            "validate": validate,
        },
    )


class SchemaOnlyGoogleProvider:
    """Duck-types `tf.iface.Provider` (a Protocol) with schemas read from JSON."""

    def __init__(self, schema: Json) -> None:
        self.schema = schema

    @classmethod
    def from_file(cls, path: Path = SCHEMA_PATH) -> SchemaOnlyGoogleProvider:
        return cls(json.loads(path.read_text()))

    def get_model_prefix(self) -> str:
        return ""  # the JSON keys are already full type names (google_...)

    def full_name(self) -> str:
        return PROVIDER_ADDRESS

    def get_provider_schema(self, diags: object) -> JsonSchema:
        return JsonSchema(self.schema["provider"])

    def validate_config(self, diags: object, config: object) -> None:
        return None

    def configure_provider(self, diags: object, config: object) -> None:
        return None

    def get_resources(self) -> list[type]:
        return [_element_class(n, b) for n, b in self.schema["resources"].items()]

    def get_data_sources(self) -> list[type]:
        return [_element_class(n, b) for n, b in self.schema["data_sources"].items()]

    def new_resource(self, klass: type) -> Any:
        return klass(self)

    def new_data_source(self, klass: type) -> Any:
        return klass(self)
