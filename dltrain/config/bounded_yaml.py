"""YAML for configs, with bounds: a config is small, so anything huge or deep is refused.

    data = load_yaml(text)    # like yaml.safe_load; YAMLError with the line on a problem

On top of the safe loader (no Python objects, ever):
- nesting deeper than MAX_DEPTH is refused while parsing, before Python's own
  recursion limit turns it into a RecursionError;
- a document of more than MAX_NODES nodes (values, keys and aliases as written) is refused
  while parsing, as soon as the count passes the bound: a huge flat list costs no more
  than MAX_NODES nodes, by either parser;
- a document whose aliases expand to more than MAX_NODES nodes (a "billion laughs"
  bomb: nine levels of nine aliases) or to more than MAX_DEPTH levels is refused
  before it is built, and an alias that contains itself is refused;
- a key given twice in one mapping is refused with its line, not silently overwritten;
- an integer too long for Python (4,300+ digits, written in any base) is refused with its line;
- `1e-3` is a float, as in YAML 1.2 (YAML 1.1 makes it a string).
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver
from yaml.scanner import ScannerError

MAX_DEPTH = 64  # a real config nests 4 or 5 levels
MAX_NODES = 200_000  # after expanding aliases: a few megabytes of Python objects at most
# Python refuses to turn an int of more than 4,300 digits into text (int_max_str_digits), so one
# could not even be named in an error message: refuse it while parsing, whatever its base.
MAX_INT_BITS = int(4300 / math.log10(2))


QUICK_BOUNDS_CHARS = 64 << 10  # a config longer than this is checked against the bounds by libyaml first


class PastBound(ConstructorError):
    """A document past MAX_DEPTH or MAX_NODES, as written or with its aliases expanded."""


class _Loader(yaml.SafeLoader):
    _depth = 0
    _nodes = 0  # nodes composed so far, aliases included

    def compose_node(self, parent, index):
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._refused(f"nested more than {MAX_DEPTH} levels deep")
            if self._nodes > MAX_NODES:
                raise self._refused(f"more than {MAX_NODES:,} values (a config is far smaller)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _refused(self, problem: str) -> PastBound:
        """The error for a document refused at the next node, naming its line."""
        return PastBound(None, None, problem, self.peek_event().start_mark)

    def fetch_flow_collection_start(self, TokenClass):
        # Refused while scanning too: at each open bracket the scanner looks up to 1,024
        # characters ahead for a key, so a thousand brackets would cost a third of a second.
        if self.flow_level >= MAX_DEPTH:
            raise ScannerError(None, None, f"nested more than {MAX_DEPTH} levels deep", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_document(self):
        node = super().compose_document()
        _check_expanded(node)
        return node

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        if isinstance(node, MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise ConstructorError(
                            None,
                            None,
                            f"duplicate key {_short(key)} (first at line {seen[key].line + 1})",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark
                except TypeError:
                    pass  # an unhashable key: the base class says so
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        # Judged by its text first: a base-60 literal (1:0:0:...) is built by repeated big-integer
        # multiplication, quadratic in its length; no integer within MAX_INT_BITS needs more
        # characters than its binary form, 0b and MAX_INT_BITS digits.
        length = len(str(node.value).replace("_", "").lstrip("+-"))
        if length > MAX_INT_BITS + 2:
            raise ConstructorError(None, None, f"an integer of {length:,} characters is too large", node.start_mark)
        try:
            value = super().construct_yaml_int(node)
        except ValueError:  # decimal, past Python's limit for int(str)
            digits = len(str(node.value))
            raise ConstructorError(
                None, None, f"an integer of {digits:,} digits is too large", node.start_mark
            ) from None
        if value.bit_length() > MAX_INT_BITS:  # hex, octal, binary or base 60 have no such limit, but str() does
            digits = int(value.bit_length() * math.log10(2)) + 1
            raise ConstructorError(None, None, f"an integer of about {digits:,} digits is too large", node.start_mark)
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
# YAML 1.1 reads 1e-3 (no dot) as a string; whoever writes `lr: 1e-3` means a number, as YAML 1.2 does.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)


try:
    from yaml.cyaml import CParser

    _C_PARSER: tuple[type, ...] = (CParser,)
except ImportError:  # PyYAML built without libyaml
    _C_PARSER = ()


class _CParsed(*_C_PARSER, _Loader):  # type: ignore[misc]
    """_Loader reading the events from libyaml's C parser (where PyYAML has it): the same
    documents, bounds and checks, built three times faster; the C parser words its syntax
    errors more tersely (no quoted excerpt)."""

    def __init__(self, stream):
        super().__init__(stream)  # the C parser
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)

    # Python's composer (bounded above), not the C parser's own
    get_single_node = Composer.get_single_node
    compose_document = _Loader.compose_document
    compose_node = _Loader.compose_node


def load_yaml(text: str, fast: bool = False) -> Any:
    """The document in `text`, safely and within the bounds above; yaml.YAMLError otherwise.

    fast: parse with libyaml (files dltrain wrote, read by the hundred: a run's config.yaml).
    Users' configs get the Python parser's answer and fuller messages (libyaml takes some
    documents the Python parser refuses: a tab after `key:`, `{a: b?}`); a long one is first
    composed by libyaml, three times faster, only to refuse it at once when it is past a bound
    (a 4 MB list: 1.3 s, not 5)."""
    if fast and _C_PARSER:
        return _load(text, _CParsed)
    if len(text) > QUICK_BOUNDS_CHARS and _C_PARSER:
        try:
            _CParsed(text).get_single_node()
        except PastBound:
            raise
        except (yaml.YAMLError, UnicodeEncodeError):  # the Python parser's answer, below
            pass
    return _load(text, _Loader)


def _load(text: str, parser: type) -> Any:
    loader = parser(text)  # a SafeLoader: what yaml.safe_load does, with this loader
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expanded(root: Node | None) -> None:
    """Refuse a document whose aliases expand beyond MAX_NODES nodes or MAX_DEPTH levels.

    Sizes are counted per distinct node (an alias reuses its anchor's node), so the
    check costs the document's written size, not its expanded size. Iterative: the
    expanded depth is what is being checked, so it cannot be the recursion depth.
    """
    if root is None:
        return
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes = [measured[id(child)] for child in _children(node)]
            size = 1 + sum(s for s, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            if size > MAX_NODES or depth > MAX_DEPTH:
                limit = f"more than {MAX_NODES:,} values" if size > MAX_NODES else f"more than {MAX_DEPTH} levels"
                raise PastBound(None, None, f"its aliases expand to {limit}", node.start_mark)
            measured[key] = (size, depth)
        elif key not in measured:
            if key in open_nodes:
                raise ConstructorError(None, None, "an alias refers to a node that contains it", node.start_mark)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in measured)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
