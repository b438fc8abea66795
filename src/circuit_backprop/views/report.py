"""What the user sees: Rich tables for people, one JSON object for scripts.

Both read the engine's `Trace`; nothing here computes a value or a gradient, it only shows them.
cs231n draws forward values in green and gradients in red: the tables do the same on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any

from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.jupyter import JupyterMixin
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from circuit_backprop.core import derive
from circuit_backprop.core.engine import Trace
from circuit_backprop.core.graph import Graph, summary_nodes
from circuit_backprop.core.ops import CONST, INPUT
from circuit_backprop.views.numberformat import (
    DEFAULT_FORMAT,
    FormatOrPrecision,
    NumberFormat,
    as_number_format,
)

VALUE_STYLE = "green"
GRAD_STYLE = "red"
SCHEMA = 1


def wire_label(graph: Graph, node: int, limit: int = 14) -> str:
    """How an input wire is named in a formula: its name, or its short source, or #id."""
    if graph.names[node] is not None:
        return graph.names[node]
    if graph.ops[node] == CONST:
        return graph.source(node, limit)
    text = graph.source(node, limit)
    if len(text) >= limit or text.endswith("…"):
        return f"#{node}"
    simple = text.replace(".", "").replace("_", "").isalnum() or (
        text.startswith("(") and text.endswith(")")
    )
    return text if simple else f"({text})"


def symbol(graph: Graph, node: int) -> str:
    kind = graph.ops[node]
    return kind if kind in (INPUT, CONST) else graph.op(node).symbol


def local_formula(graph: Graph, node: int, k: int) -> str:
    """The k-th local gradient's formula, written with the gate's own input wires."""
    op = graph.op(node)
    labels = [wire_label(graph, i) for i in graph.args[node]]
    formula = derive.local_formula(op, k, labels, wire_label(graph, node),
                                   derive.gate_constants(graph, node))
    for label in labels:  # exp((x + y)) reads better as exp(x + y)
        if label.startswith("(") and label.endswith(")"):
            formula = formula.replace(f"({label})", label)
    return formula


def _styled(text: str, style: str) -> Text:
    return Text(text, style=style)


# --- tables that fit the terminal -------------------------------------------------------------

NUMBER, TEXT = "number", "text"
LONGEST_UNBROKEN = 20  # a text column may fold a word longer than this; a shorter one never


@dataclass
class Column:
    """One column of a FittedTable. A NUMBER column keeps its cells whole (it is never narrower
    than its widest cell; only its header may wrap); a TEXT column wraps between words. `drop`:
    0 for a column always shown, else the order in which a narrow terminal leaves it out."""

    header: str
    justify: JustifyMethod = "left"
    kind: str = TEXT
    drop: int = 0


def _lines(cell: Text) -> list[str]:
    return cell.plain.split("\n")


def _natural_width(column: Column, cells: list[Text]) -> int:
    return max(cell_len(line) for cell in [Text(column.header), *cells] for line in _lines(cell))


def _least_width(column: Column, cells: list[Text]) -> int:
    """As narrow as the column can get: a number column its widest cell (and its header's
    longest word), a text column its longest word (at most LONGEST_UNBROKEN)."""
    header_words = [cell_len(w) for w in column.header.split()] or [0]
    if column.kind == NUMBER:
        return max(max(header_words),
                   *(cell_len(line) for cell in cells for line in _lines(cell)), 1)
    words = [cell_len(w) for cell in cells for w in cell.plain.split()]
    return max(1, min(LONGEST_UNBROKEN, max([*header_words, *words])))


Row = tuple[Sequence[Text | str], str | None]
"""A table's row: its cells (one a column) and its style (bold for the output's row)."""


def _as_text(cell: Text | str) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _table_border(columns: int) -> int:
    """Rich's box: one rule left of each column and one at the right, a space either side."""
    return 3 * columns + 1


class FittedTable(JupyterMixin):
    """A Rich table that chooses its columns and their widths for the width it is rendered at.

    Numbers are never cut or wrapped: a number column is as wide as its widest cell. Only text
    columns (formulas, sources, sums) wrap, and never narrower than their longest word. Where
    that does not fit, the columns marked `drop` are left out, in their order (a caption says
    which); where even the rest does not fit, each row prints as one "header: cell" record.
    One row is one line of facts that belong together: a cell that wraps makes the row taller,
    and every other cell of the row stays on the row's first line, beside it."""

    def __init__(self, title: str, columns: list[Column]) -> None:
        self.title = title
        self.columns = columns
        self.rows: list[Row] = []
        self._measured: list[tuple[int, int]] | None = None

    def add_row(self, *cells: Text | str, style: str | None = None) -> None:
        assert len(cells) == len(self.columns)
        self.rows.append(([_as_text(c) for c in cells], style))
        self._measured = None

    def _measures(self) -> list[tuple[int, int]]:
        """(least, natural) width of each column, measured once."""
        if self._measured is None:
            self._measured = []
            for index, column in enumerate(self.columns):
                cells = [cells[index] for cells, _ in self.rows]
                self._measured.append((_least_width(column, cells),
                                       _natural_width(column, cells)))
        return self._measured

    def _layouts(self) -> list[list[int]]:
        """The column indices to show, from every column to the fewest."""
        levels = sorted({c.drop for c in self.columns if c.drop})
        return [[i for i, c in enumerate(self.columns) if not 0 < c.drop <= level]
                for level in [0, *levels]]

    def _least_total(self, shown: list[int]) -> int:
        return _table_border(len(shown)) + sum(self._measures()[i][0] for i in shown)

    def _natural_total(self, shown: list[int]) -> int:
        return _table_border(len(shown)) + sum(self._measures()[i][1] for i in shown)

    def widths(self, shown: list[int], width: int) -> list[int]:
        """Each shown column's width within `width`: the natural one where everything fits;
        otherwise number columns first wrap their headers, then the widest text columns
        narrow, one character at a time, down to their longest word."""
        least = [self._measures()[i][0] for i in shown]
        natural = [self._measures()[i][1] for i in shown]
        widths = natural[:]
        excess = sum(widths) + _table_border(len(shown)) - width
        numbers = [k for k, i in enumerate(shown) if self.columns[i].kind == NUMBER]
        for k in numbers:
            cut = min(excess, widths[k] - least[k]) if excess > 0 else 0
            widths[k] -= cut
            excess -= cut
        while excess > 0:
            k = max((k for k in range(len(shown)) if widths[k] > least[k]),
                    key=lambda k: widths[k], default=None)
            if k is None:
                break
            widths[k] -= 1
            excess -= 1
        return widths

    def layout(self, width: int) -> list[int] | None:
        """The columns shown at `width`, or None where not even the fewest fit."""
        return next((shown for shown in self._layouts() if self._least_total(shown) <= width),
                    None)

    def hidden(self, shown: list[int]) -> list[str]:
        return [c.header for i, c in enumerate(self.columns) if i not in shown]

    def table(self, width: int) -> Table:
        """The Rich table for a terminal `width` columns wide (where `layout` finds one)."""
        shown = self.layout(width)
        assert shown is not None
        return self.rich_table(shown, self.widths(shown, width), self.rows)

    def rich_table(self, shown: list[int], widths: list[int], rows: list[Row],
                   head: bool = True, caption: bool = True) -> Table:
        """The Rich table of `rows` with these columns and widths; `head`: the title and the
        header; `caption`: which columns are not shown."""
        hidden = self.hidden(shown)
        table = Table(title=self.title if head else None, title_justify="left",
                      caption=f"(not shown at this width: {', '.join(hidden)})"
                      if hidden and caption else None, caption_justify="left",
                      show_header=head)
        for i, w in zip(shown, widths, strict=True):
            column = self.columns[i]
            number = column.kind == NUMBER
            table.add_column(Text(column.header, no_wrap=False), justify=column.justify,
                             width=w, no_wrap=number, overflow="fold")
        for cells, style in rows:
            table.add_row(*(cells[i] for i in shown), style=style)
        return table

    def records(self, width: int) -> list[Text]:
        """Where no table fits: the title, then each row as "header: cell" pairs, as many to a
        line as fit (a pair is never split across lines unless it is wider than a line). A row
        that continues the one above it (its first cell empty) is indented."""
        return [Text(self.title), *self.record_lines(self.rows, width)]

    def record_lines(self, rows: list[Row], width: int) -> list[Text]:
        """`records` of these rows, without the title."""
        shown: list[Text] = []
        for cells, style in rows:
            cells = [_as_text(c) for c in cells]
            indent = "" if cells[0].plain else "  "
            pairs = [Text.assemble(f"{c.header}: ", Text(cell.plain.replace("\n", " "),
                                                          style=cell.style))
                     for c, cell in zip(self.columns, cells, strict=True) if cell.plain]
            line = Text(indent)
            for pair in pairs:
                if line.plain.strip() and cell_len(line.plain) + 2 + pair.cell_len > width:
                    shown.append(line)
                    line = Text(indent + "    ")
                elif line.plain.strip():
                    line.append("; ")
                line.append_text(pair)
            if style:
                line.stylize(style)
            shown.append(line)
        return shown

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if self.layout(width) is None:
            yield from self.records(width)
        else:
            yield self.table(width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        layouts = self._layouts()
        least = min(self._least_total(layouts[-1]), options.max_width)
        return Measurement(least, max(least, min(self._natural_total(layouts[0]),
                                                 options.max_width)))


# --- tables too long to lay out whole: printed a block of rows at a time ---------------------

STREAM_BLOCK = 256  # nodes whose rows a streamed table makes, lays out and prints at a time
SAMPLE_BLOCKS = 5  # blocks (the first, the last, some between) that set its text columns' widths


def number_width(number_format: NumberFormat) -> int:
    """The widest a scalar is written: sign, digits, point and a 3-digit exponent
    (-1.23457e-308 at 6 digits)."""
    p = number_format.precision
    return 1 + p + (1 if p > 1 else 0) + 5


class StreamedTable(FittedTable):
    """A FittedTable with too many rows to lay out whole (Rich measures every cell of a table
    before it prints its first line): its rows are made a block at a time, as they are printed,
    and its columns' widths are chosen before any is. A number column is at least `least[i]`
    wide (the widest its numbers can be written: they are never cut or wrapped); a text column
    is as wide as the cells of a few sample blocks need, and a later cell wider than that wraps,
    as in any text column.

    `pieces()` are what a view shows: the title and header, each block of rows, the bottom edge
    (and caption); printed one after another, they read as one table, and memory holds one
    block of it. At a width where no table fits, the pieces are the records, block by block."""

    def __init__(self, title: str, columns: list[Column], blocks: int,
                 rows_of: Callable[[int], list[Row]], least: Callable[[], list[int]]) -> None:
        super().__init__(title, columns)
        self.blocks = blocks
        self.rows_of = rows_of  # the rows of block k, made when it is printed
        self.least = least  # each column's least width, found when the widths are first needed
        self._fitted: dict[int, tuple[list[int], list[int]] | None] = {}

    def add_row(self, *cells: Text | str, style: str | None = None) -> None:
        raise TypeError("a streamed table makes its rows a block at a time: see rows_of")

    def _sample_rows(self) -> list[Row]:
        last = self.blocks - 1
        picked = {0, last, *(last * k // (SAMPLE_BLOCKS - 1) for k in range(1, SAMPLE_BLOCKS - 1))}
        return [row for k in sorted(picked & set(range(self.blocks))) for row in self.rows_of(k)]

    def _measures(self) -> list[tuple[int, int]]:
        if self._measured is None:
            rows = self._sample_rows()
            least = self.least()
            self._measured = []
            for index, column in enumerate(self.columns):
                cells = [_as_text(cells[index]) for cells, _ in rows]
                floor = least[index]
                self._measured.append((max(_least_width(column, cells), floor),
                                       max(_natural_width(column, cells), floor)))
        return self._measured

    def fitted(self, width: int) -> tuple[list[int], list[int]] | None:
        """(the columns shown, their widths) at `width`, the same for every block; None where
        not even the fewest columns fit (then the rows print as records)."""
        if width not in self._fitted:
            shown = self.layout(width)
            self._fitted[width] = None if shown is None else (shown, self.widths(shown, width))
        return self._fitted[width]

    def pieces(self) -> list[Any]:
        return [_StreamHead(self), *(_StreamBlock(self, k) for k in range(self.blocks)),
                _StreamFoot(self)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Every piece, one after another (where the table is shown whole: a Group, Jupyter)."""
        for piece in self.pieces():
            yield from piece.__rich_console__(console, options)


class _StreamHead:
    """A streamed table's title and header: Rich's own, drawn above a row of empty cells that
    is then left out (with the bottom edge under it)."""

    def __init__(self, table: StreamedTable) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        fitted = table.fitted(options.max_width)
        if fitted is None:
            yield Text(table.title)
            return
        shown, widths = fitted
        empty: list[Row] = [([Text("")] * len(table.columns), None)]
        drawn = table.rich_table(shown, widths, empty, caption=False)
        for line in console.render_lines(drawn, options, pad=False)[:-2]:
            yield from line
            yield Segment.line()


class _StreamFoot:
    """A streamed table's bottom edge, and the caption saying which columns are not shown."""

    def __init__(self, table: StreamedTable) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        fitted = table.fitted(options.max_width)
        if fitted is None:
            return
        shown, widths = fitted
        edges = HEAVY_HEAD.substitute(options, safe=console.safe_box)
        yield Segment(edges.get_bottom([w + 2 for w in widths]))
        yield Segment.line()
        hidden = table.hidden(shown)
        if hidden:
            caption = console.render_str(f"(not shown at this width: {', '.join(hidden)})",
                                         style="table.caption", highlight=False)
            yield from console.render(caption, options.update(
                width=sum(widths) + _table_border(len(widths)), justify="left", highlight=False))


class _StreamBlock:
    """One block of a streamed table's rows, in the table's widths (see `row_lines`)."""

    def __init__(self, table: StreamedTable, block: int) -> None:
        self.table = table
        self.block = block

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        rows = table.rows_of(self.block)
        fitted = table.fitted(options.max_width)
        if fitted is None:
            yield from table.record_lines(rows, options.max_width)
            return
        shown, widths = fitted
        yield from row_lines(console, options, [table.columns[i] for i in shown], widths,
                             [([cells[i] for i in shown], style) for cells, style in rows])


def _cells(text: str) -> int:
    """The terminal cells a line of text takes (an ASCII one: its length, at once)."""
    return len(text) if text.isascii() else cell_len(text)


def _justified(text: str, width: int, justify: str, length: int) -> str:
    """A one-line cell `length` cells long padded to `width` as Rich justifies it (centred: the
    odd space right)."""
    space = width - length
    if justify == "right":
        return " " * space + text
    if justify == "center":
        return " " * (space // 2) + text + " " * (space - space // 2)
    return text + " " * space


def row_lines(console: Console, options: ConsoleOptions, columns: list[Column],
              widths: list[int], rows: list[Row]) -> RenderResult:
    """Rows of cells as the lines of a Rich table's body (│ cell │ cell │) in these widths.

    A cell of one line that fits is padded here (most cells: a row then costs a few string
    operations, not Rich's layout of each cell); any other one (wider than its column, several
    lines, several styles) Rich wraps, in its column's width, and the row is as tall as its
    tallest cell, every other cell on its first line. Without colours (a file, a pipe) a line
    is one segment."""
    edges = HEAVY_HEAD.substitute(options, safe=console.safe_box)
    left, bar, right = edges.mid_left + " ", " " + edges.mid_vertical + " ", " " + edges.mid_right
    plain = console.color_system is None
    styles: dict[tuple[str, str | None], Style] = {}

    def style_of(cell_style: str, row_style: str | None) -> Style:
        key = (cell_style, row_style)
        if key not in styles:
            styles[key] = console.get_style(cell_style) + console.get_style(row_style or "")
        return styles[key]

    justify = [column.justify for column in columns]
    for cells, row_style in rows:
        texts = [cell if isinstance(cell, str) else cell.plain for cell in cells]
        lengths = [_cells(t) for t in texts]
        if plain and all(n <= w and "\n" not in t
                         for t, n, w in zip(texts, lengths, widths, strict=True)):
            yield Segment(left + bar.join(map(_justified, texts, widths, justify, lengths))
                          + right)
            yield Segment.line()
            continue
        drawn = [_cell_lines(console, options, cell, text, w, j, row_style, style_of)
                 for cell, text, w, j in zip(cells, texts, widths, justify, strict=True)]
        for k in range(max(len(lines) for lines in drawn)):
            segments = [Segment(left)]
            for c, lines in enumerate(drawn):
                if c:
                    segments.append(Segment(bar))
                segments.extend(lines[k] if k < len(lines)
                                else [Segment(" " * widths[c], style_of("", row_style))])
            segments.append(Segment(right))
            if plain:
                yield Segment("".join(segment.text for segment in segments))
            else:
                yield from segments
            yield Segment.line()


def _cell_lines(console: Console, options: ConsoleOptions, cell: Text | str, text: str,
                width: int, justify: JustifyMethod, row_style: str | None,
                style_of: Any) -> list[list[Segment]]:
    """One cell's lines, each `width` wide: padded here where it is one line in one style,
    else wrapped by Rich (folding a word longer than the column)."""
    if isinstance(cell, str):
        cell_style, one_style = "", True
    else:
        cell_style, one_style = cell.style, not cell.spans and isinstance(cell.style, str)
    length = _cells(text)
    if one_style and "\n" not in text and length <= width:
        return [[Segment(_justified(text, width, justify, length),
                         style_of(cell_style, row_style))]]
    shaped = options.update(width=width, justify=justify, overflow="fold", no_wrap=False,
                            height=None)
    return console.render_lines(_as_text(cell), shaped, style=console.get_style(row_style or ""))


Extra = dict[str, dict[int, Text | str]]
"""Extra columns a check adds to a table: header -> the cell of each node (e.g. "torch")."""


def _extra_columns(extra: Extra | None, drop: int) -> list[Column]:
    """A check's columns (✓, ✗ and a number): kept whole, left out only after every other
    column that may be left out."""
    return [Column(header, "left", NUMBER, drop) for header in extra or {}]


def _extra_cells(extra: Extra | None, node: int) -> list[Text | str]:
    return [cells.get(node, "") for cells in (extra or {}).values()]


def _forward_columns(extra: Extra | None, notes: dict[int, str]) -> list[Column]:
    """A narrow terminal leaves out the inputs column (the source names them), then # (the gate
    column has #id where there is no name), then op."""
    columns = [Column("#", "right", NUMBER, 2), Column("gate"), Column("op", "center", TEXT, 3),
               Column("source"), Column("inputs", drop=1), Column("value", "right", NUMBER),
               *_extra_columns(extra, 4)]
    if notes:
        columns.append(Column("note", drop=4))
    return columns


FORWARD_TITLE = "Forward pass (left to right)"


def _forward_rows(trace: Trace, number_format: NumberFormat, extra: Extra | None,
                  notes: dict[int, str], nodes: range) -> list[Row]:
    """One row per node, in the order of the forward pass."""
    graph = trace.graph
    rows: list[Row] = []
    for node in nodes:
        row: list[Text | str] = [
            str(node),
            graph.label(node),
            symbol(graph, node),
            graph.source(node, 40),
            ", ".join(wire_label(graph, i) for i in graph.args[node]),
            _styled(number_format.value(trace.values[node]), VALUE_STYLE),
            *_extra_cells(extra, node),
        ]
        if notes:
            row.append(notes.get(node, ""))
        rows.append((row, "bold" if node == graph.output else None))
    return rows


def forward_table(trace: Trace, number_format: NumberFormat,
                  extra: Extra | None = None) -> FittedTable:
    """One row per node, in the order of the forward pass (see _forward_columns)."""
    notes = _notes(trace)
    table = FittedTable(FORWARD_TITLE, _forward_columns(extra, notes))
    for cells, style in _forward_rows(trace, number_format, extra, notes,
                                      range(len(trace.graph))):
        table.add_row(*cells, style=style)
    return table


def _backward_columns(fname: str, extra: Extra | None, notes: dict[int, str]) -> list[Column]:
    """A narrow terminal leaves out # (the gate column has #id where there is no name), then the
    gate's value (the forward table has it), then the formulas, then op."""
    columns = [
        Column("#", "right", NUMBER, 1), Column("gate"), Column("op", "center", TEXT, 4),
        Column("value", "right", NUMBER, 2), Column(f"upstream ∂{fname}/∂gate", "right", NUMBER),
        Column("input"), Column("local gradient", "right", NUMBER),
        Column("downstream", "right", NUMBER), Column("formula", drop=3),
        *_extra_columns(extra, 5),
    ]
    if notes:
        columns.append(Column("note", drop=5))
    return columns


def _backward_title(fname: str) -> str:
    return f"Backward pass (right to left): ∂{fname}/∂gate × local = downstream"


def _backward_rows(trace: Trace, number_format: NumberFormat, extra: Extra | None,
                   notes: dict[int, str], nodes: range) -> list[Row]:
    """Gates output first; one row per input wire: upstream × local = downstream on one line.
    The gate's own cells (#, name, op, value, upstream) are on the row of its first wire."""
    graph = trace.graph
    rows: list[Row] = []
    for node in nodes:
        gate: list[Text | str] = [
            str(node),
            graph.label(node),
            symbol(graph, node),
            _styled(number_format.value(trace.values[node]), VALUE_STYLE),
            _styled(number_format.value(trace.grads[node] if trace.depends[node] else None),
                    GRAD_STYLE),
        ]
        after = [*_extra_cells(extra, node), *([notes.get(node, "")] if notes else [])]
        style = "bold" if node == graph.output else None
        wires = _wire_cells(trace, node, number_format) or [["", "", "", ""]]
        for k, wire in enumerate(wires):
            if k == 0:
                rows.append(([*gate, *wire, *after], style))
            else:
                rows.append(([*([""] * len(gate)), *wire, *([""] * len(after))], style))
    return rows


def backward_table(trace: Trace, number_format: NumberFormat,
                   extra: Extra | None = None) -> FittedTable:
    """Gates output first, one row per input wire (see _backward_rows, _backward_columns)."""
    graph = trace.graph
    fname = graph.label(graph.output)
    notes = _notes(trace)
    table = FittedTable(_backward_title(fname), _backward_columns(fname, extra, notes))
    for cells, style in _backward_rows(trace, number_format, extra, notes,
                                       range(len(graph) - 1, -1, -1)):
        table.add_row(*cells, style=style)
    return table


def _wire_cells(trace: Trace, node: int, number_format: NumberFormat) -> list[list[Text | str]]:
    """[input, local gradient, downstream, formula] of each of the gate's input wires."""
    graph = trace.graph
    args = graph.args[node]
    local = trace.local[node] or tuple(None for _ in args)
    down = trace.downstream(node)
    return [
        [wire_label(graph, i), number_format.value(d), _styled(number_format.value(g), GRAD_STYLE),
         _formula_cell(graph, node, k, d, number_format)]
        for k, (i, d, g) in enumerate(zip(args, local, down, strict=True))
    ]


def _formula_cell(graph: Graph, node: int, k: int, value: float | None,
                  number_format: NumberFormat) -> str:
    """How the local gradient is computed; nothing where the formula is the number itself."""
    if value is None:
        return "constant wire"
    formula = local_formula(graph, node, k)
    return "" if formula == number_format.value(value) else formula


def _notes(trace: Trace) -> dict[int, str]:
    """The gates at a kink, and what to say there (trace.kink): only gates whose op has kinks
    are looked at, so that a circuit without such ops costs one pass over its op names."""
    graph = trace.graph
    kinks = _kink_functions(graph)
    notes: dict[int, str] = {}
    if not kinks:
        return notes
    values = trace.values
    for node, kind in enumerate(graph.ops):
        kink = kinks.get(kind)
        if kink is not None:
            note = kink(*(values[i] for i in graph.args[node]))
            if note:
                notes[node] = note
    return notes


def _gradient_columns(fname: str, extra: Extra | None) -> list[Column]:
    return [Column("node"), Column("kind", drop=1), Column(f"∂{fname}/∂node", "right", NUMBER),
            Column("how it adds up (one term per out-wire)"), *_extra_columns(extra, 2)]


def _gradient_rows(trace: Trace, number_format: NumberFormat, extra: Extra | None,
                   nodes: list[int], parts: dict[int, list[tuple[int, float]]]) -> list[Row]:
    """∂out/∂node for each of `nodes`; at a fork, the contributions being added (`parts`)."""
    graph = trace.graph
    fname = graph.label(graph.output)
    rows: list[Row] = []
    for node in nodes:
        grad = trace.grads[node]
        terms = parts[node]
        if node == graph.output:
            how = f"the output: ∂{fname}/∂{fname} = 1"
        elif not terms:
            how = "does not reach the output" if trace.depends[node] else "constant"
        elif len(terms) == 1:
            how = f"from {graph.label(terms[0][0])}"
        else:
            how = number_format.sum_of(d for _, d in terms)
            how += f" = {number_format.value(grad)}"
            how += "  (from " + ", ".join(graph.label(g) for g, _ in terms) + ")"
        kind = "input" if graph.ops[node] == INPUT else "gate"
        rows.append(([f"{graph.label(node)}", kind,
                      _styled(number_format.value(grad), GRAD_STYLE), how,
                      *_extra_cells(extra, node)], None))
    return rows


def gradient_table(trace: Trace, number_format: NumberFormat,
                   extra: Extra | None = None) -> FittedTable:
    """∂out/∂ every input and every named gate; at a fork, the contributions being added."""
    fname = trace.graph.label(trace.graph.output)
    table = FittedTable(f"Gradients of {fname}", _gradient_columns(fname, extra))
    shown = summary_nodes(trace.graph)
    parts = trace.contributions(set(shown))
    for cells, style in _gradient_rows(trace, number_format, extra, shown, parts):
        table.add_row(*cells, style=style)
    return table


# --- every row of a large circuit (--all): the tables streamed ---------------------------------


def _least_widths(columns: list[Column], trace: Trace, number_format: NumberFormat,
                  extra: Extra | None, numbers: dict[str, Callable[[], Iterable[Any]]]
                  ) -> list[int]:
    """How wide each column of a streamed table must be, known before any row is made: # as
    the largest node id, a check's column as its widest cell, a number column as wide as its
    numbers (`numbers`: header -> the arrays of that column's numbers) can be written; a text
    column as its sample blocks say (0 here)."""
    widths = {"#": len(str(len(trace.graph) - 1))}
    for header, cells in (extra or {}).items():
        widths[header] = max((_as_text(c).cell_len for c in cells.values()), default=0)
    for header, arrays in numbers.items():
        widths[header] = widest_number(arrays(), number_format)
    bound = number_width(number_format)
    return [widths.get(c.header, bound) if c.kind == NUMBER else 0 for c in columns]


NUMBER_CHUNK = 1 << 16  # numbers measured at a time by widest_number (bounded memory)


def widest_number(arrays: Iterable[Any], number_format: NumberFormat) -> int:
    """At least as wide as any of these numbers is written (number_format.value: '%.pg', NaN
    a missing one, —), from their magnitudes alone, with numpy: no number is formatted.

    With p digits, a number whose exponent (after rounding) is e is written -d.ddddde-XX, or
    in fixed point where -4 <= e < p: -ddd.ddd (p digits, a point), -0.000ddd; the exponent is
    floor(log10|v|) or one more (rounding up to a power of ten), one less where log10 rounds
    up: the widest of the three is taken."""
    import numpy as np

    p = number_format.precision
    widest = 1  # (0, and — for a missing number)
    for values in arrays:
        column = np.asarray(values, dtype=np.float64)
        for lo in range(0, len(column), NUMBER_CHUNK):
            chunk = column[lo:lo + NUMBER_CHUNK]
            finite = np.isfinite(chunk)
            if np.any(~finite & ~np.isnan(chunk)):
                widest = max(widest, 4)  # -inf
            chunk = chunk[finite & (chunk != 0)]
            if not chunk.size:
                continue
            e = np.floor(np.log10(np.abs(chunk))).astype(np.int64)
            sign = (chunk < 0).astype(np.int64)
            for shift in (-1, 0, 1):
                widest = max(widest, int((_written_width(e + shift, p) + sign).max()))
    return widest


def _written_width(e: Any, p: int) -> Any:
    """The widest '%.pg' writes a positive number of exponent e (a numpy array of them)."""
    import numpy as np

    fixed = (e >= -4) & (e < p)
    point = np.where(e >= 0, np.where(p - 1 - e > 0, p + 1, e + 1), p + 1 - e)
    mantissa = p + 1 if p > 1 else 1
    scientific = mantissa + 2 + np.where(np.abs(e) >= 100, 3, 2)
    return np.where(fixed, point, scientific)


def _products(grads: Any, local: list[Any]) -> Iterator[Any]:
    """What each wire sends down (upstream × local), a column of wires and a chunk at a time."""
    import numpy as np

    up = np.asarray(grads, dtype=np.float64)
    for column in local:
        wire = np.asarray(column, dtype=np.float64)
        for lo in range(0, len(wire), NUMBER_CHUNK):
            yield up[lo:lo + NUMBER_CHUNK] * wire[lo:lo + NUMBER_CHUNK]


def _node_blocks(lo: int, hi: int, step: int) -> list[range]:
    """Ranges of at most STREAM_BLOCK nodes from lo towards hi (step 1 or -1), in that order."""
    if step > 0:
        return [range(a, min(a + STREAM_BLOCK, hi)) for a in range(lo, hi, STREAM_BLOCK)]
    return [range(a, max(a - STREAM_BLOCK, hi), -1) for a in range(lo, hi, -STREAM_BLOCK)]


def streamed_forward_table(trace: Trace, number_format: NumberFormat,
                           extra: Extra | None = None) -> StreamedTable:
    """forward_table, a block of nodes at a time."""
    notes = _notes(trace)
    columns = _forward_columns(extra, notes)
    blocks = _node_blocks(0, len(trace.graph), 1)
    numbers = {"value": lambda: [trace.values]}
    return StreamedTable(
        FORWARD_TITLE, columns, len(blocks),
        lambda k: _forward_rows(trace, number_format, extra, notes, blocks[k]),
        lambda: _least_widths(columns, trace, number_format, extra, numbers))


def streamed_backward_table(trace: Trace, number_format: NumberFormat,
                            extra: Extra | None = None) -> StreamedTable:
    """backward_table, a block of gates at a time (output first)."""
    fname = trace.graph.label(trace.graph.output)
    notes = _notes(trace)
    columns = _backward_columns(fname, extra, notes)
    blocks = _node_blocks(len(trace.graph) - 1, -1, -1)
    numbers = {"value": lambda: [trace.values], f"upstream ∂{fname}/∂gate": lambda: [trace.grads]}
    local = getattr(trace.local, "columns", None)  # (engine.LocalGradients: one array a wire)
    if local is not None:
        numbers["local gradient"] = lambda: local
        numbers["downstream"] = lambda: _products(trace.grads, local)
    return StreamedTable(
        _backward_title(fname), columns, len(blocks),
        lambda k: _backward_rows(trace, number_format, extra, notes, blocks[k]),
        lambda: _least_widths(columns, trace, number_format, extra, numbers))


def streamed_gradient_table(trace: Trace, number_format: NumberFormat,
                            extra: Extra | None = None) -> StreamedTable:
    """gradient_table, a block of nodes at a time: each block's contributions read from an
    index of every wire into a listed node, made when the first block is."""
    graph = trace.graph
    fname = graph.label(graph.output)
    columns = _gradient_columns(fname, extra)
    shown = summary_nodes(graph)
    blocks = [shown[a:a + STREAM_BLOCK] for a in range(0, len(shown), STREAM_BLOCK)]
    index: list[Contributions] = []

    def rows_of(k: int) -> list[Row]:
        if not index:  # (on a million gates: 0.2 s, and 9 bytes a wire into a listed node)
            index.append(Contributions(trace, shown))
        return _gradient_rows(trace, number_format, extra, blocks[k], index[0].of(blocks[k]))

    numbers = {f"∂{fname}/∂node": lambda: [trace.grads]}
    return StreamedTable(f"Gradients of {fname}", columns, len(blocks), rows_of,
                         lambda: _least_widths(columns, trace, number_format, extra, numbers))


def _wires(graph: Graph) -> tuple[Any, Any, Any]:
    """Every wire of the graph as numpy arrays: the node it comes from, the gate it goes into,
    its input position there (read from the graph's flat wiring, without a loop)."""
    import numpy as np

    wires = graph.args
    arity = np.frombuffer(wires.arity, dtype=np.int8)
    first = np.frombuffer(wires.first, dtype=np.int32)
    second = np.frombuffer(wires.second, dtype=np.int32)
    gates = np.arange(len(arity), dtype=np.int32)
    one_or_two, two = (arity == 1) | (arity == 2), arity == 2
    starts = [first[one_or_two], second[two]]
    ends = [gates[one_or_two], gates[two]]
    positions = [np.zeros(len(starts[0]), np.int8), np.ones(len(starts[1]), np.int8)]
    for gate, args in wires.more.items():  # (a def with three or more parameters)
        starts.append(np.array(args, dtype=np.int32))
        ends.append(np.full(len(args), gate, dtype=np.int32))
        positions.append(np.arange(len(args), dtype=np.int8))
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(positions)


def _computed(trace: Trace) -> Any:
    """Which gates have local gradients (only their wires carry one), as a numpy bool array."""
    import numpy as np

    computed = getattr(trace.local, "computed", None)  # (engine.LocalGradients: a bytearray)
    if computed is not None:
        return np.frombuffer(bytes(computed), dtype=np.uint8).astype(bool)
    return np.array([trace.local[g] is not None for g in range(len(trace.graph))], dtype=bool)


class Contributions:
    """trace.contributions for many nodes, a few at a time: every wire into one of `nodes` that
    carries a gradient, as (node, gate, input position), sorted by node and then gate (numpy
    arrays: 9 bytes a wire)."""

    def __init__(self, trace: Trace, nodes: list[int]) -> None:
        import numpy as np

        self.trace = trace
        start, end, position = _wires(trace.graph)
        wanted = np.zeros(len(trace.graph), dtype=bool)
        wanted[np.asarray(nodes, dtype=np.int64)] = True
        keep = wanted[start] & _computed(trace)[end]
        start, end, position = start[keep], end[keep], position[keep]
        order = np.lexsort((position, end, start))
        self.target = start[order]
        self.source = end[order]
        self.position = position[order]

    def of(self, nodes: list[int]) -> dict[int, list[tuple[int, float]]]:
        """What trace.contributions(set(nodes)) gives."""
        import numpy as np

        trace = self.trace
        found: dict[int, list[tuple[int, float]]] = {}
        lo = np.searchsorted(self.target, nodes, side="left")
        hi = np.searchsorted(self.target, nodes, side="right")
        for node, a, b in zip(nodes, lo.tolist(), hi.tolist(), strict=True):
            terms: list[tuple[int, float]] = []
            for gate, k in zip(self.source[a:b].tolist(), self.position[a:b].tolist(),
                               strict=True):
                d = trace.downstream(gate)[k]
                if d is not None:
                    terms.append((gate, d))
            found[node] = terms
        return found


def eval_view(trace: Trace, number_format: FormatOrPrecision = DEFAULT_FORMAT,
              extra: tuple[Extra, ...] = ()) -> Iterable[Any]:
    """What `eval` shows: the forward table and the output's value. Above TABLE_LIMIT nodes
    (--all) the table is streamed: a generator of its pieces, each printed as it comes."""
    number_format = as_number_format(number_format)
    if len(trace.graph) > TABLE_LIMIT:
        return chain(_streamed([lambda: streamed_forward_table(trace, number_format,
                                                               *extra[:1])]),
                     [output_line(trace, number_format)])
    return [forward_table(trace, number_format, *extra[:1]), output_line(trace, number_format)]


def backward_view(trace: Trace, number_format: FormatOrPrecision = DEFAULT_FORMAT,
                  extra: tuple[Extra, ...] = ()) -> Iterable[Any]:
    """What `backward` shows: the forward, backward and gradient tables, the output and ∇.
    `extra`: columns for the three tables, in that order. Above TABLE_LIMIT nodes (--all) the
    tables are streamed: a generator of their pieces, each printed as it comes."""
    number_format = as_number_format(number_format)
    forward_x, backward_x, gradient_x = (*extra, None, None, None)[:3]
    end = [output_line(trace, number_format), *_gradient_line(trace, number_format)]
    if len(trace.graph) > TABLE_LIMIT:
        return chain(_streamed([
            lambda: streamed_forward_table(trace, number_format, forward_x),
            lambda: streamed_backward_table(trace, number_format, backward_x),
            lambda: streamed_gradient_table(trace, number_format, gradient_x),
        ]), end)
    return [
        forward_table(trace, number_format, forward_x), Text(""),
        backward_table(trace, number_format, backward_x), Text(""),
        gradient_table(trace, number_format, gradient_x), *end,
    ]


def _streamed(tables: list[Callable[[], StreamedTable]]) -> Iterator[Any]:
    """Each table's pieces, a blank line between tables; each table made (its index, its
    widths) only once the one before it has been printed."""
    for k, table in enumerate(tables):
        if k:
            yield Text("")
        yield from table().pieces()


def _gradient_line(trace: Trace, number_format: NumberFormat) -> list[Text]:
    """∇f = [∂f/∂x, ...] = [numbers], where the circuit has inputs."""
    graph = trace.graph
    fname = graph.label(graph.output)
    names = list(graph.inputs)
    if not names:
        return []
    grads = ", ".join(number_format.value(trace.grads[graph.inputs[n]]) for n in names)
    parts = ", ".join(f"∂{fname}/∂{n}" for n in names)
    return [Text.assemble("∇", fname, " = [", parts, "] = [", (grads, GRAD_STYLE), "]")]


def output_line(trace: Trace, number_format: NumberFormat) -> Text:
    graph = trace.graph
    return Text.assemble(
        (graph.label(graph.output), "bold"), " = ",
        (number_format.value(trace.output_value), "bold " + VALUE_STYLE),
    )


# --- JSON (schema 1) --------------------------------------------------------------------------


def to_json(trace: Trace, inputs: dict[str, float]) -> dict[str, Any]:
    """The stable contract for scripts. Gradient keys only after a backward pass."""
    graph = trace.graph
    backward = trace.grads is not None
    doc = to_json_head(trace, inputs)
    doc["gates"] = [gate_json(trace, node, backward) for node in range(len(graph))]
    return doc


def gate_json(trace: Trace, node: int, backward: bool) -> dict[str, Any]:
    graph = trace.graph
    line, column = graph.position(node)
    gate: dict[str, Any] = {
        "id": node,
        "name": graph.names[node],
        "op": graph.ops[node],
        "inputs": list(graph.args[node]),
        "shape": [],  # (a scalar circuit's every wire: tensorreport.py writes arrays' shapes)
        "value": trace.values[node],
    }
    if backward:
        gate["grad"] = trace.grads[node]
        local = trace.local[node]
        gate["local"] = list(local) if local is not None else [None] * len(graph.args[node])
        gate["downstream"] = list(trace.downstream(node))
    gate["source"] = graph.source(node)
    gate["line"] = line
    gate["column"] = column
    gate["note"] = trace.kink(node)
    return gate


def dumps(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, allow_nan=False, ensure_ascii=False)


def write_json(trace: Trace, inputs: dict[str, float], out: IO[str]) -> None:
    """`dumps(to_json(...))`, streamed: the same text, a block of gates at a time, without building
    a million dicts first. This is what `--json` runs; tests check that both give the same text.

    Each column (names, values, sources, ...) is formatted by one list comprehension over a block:
    per-gate Python work is what a million-gate circuit pays for, so it is kept to the minimum.
    On a big circuit written to a file or a pipe, a second process (a fork, where the system has
    it) formats the second half of the gates while this one formats the first.
    """
    head = dumps(to_json_head(trace, inputs))
    out.write(head[:-1] + ', "gates": [')
    n = len(trace.graph)
    if n < PARALLEL_JSON or not _write_gates_in_two_processes(trace, out):
        _write_gates(trace, 0, n, out)
    out.write("]}\n")


PARALLEL_JSON = 200_000  # gates from which --json formats in two processes (see write_json)


def _write_gates_in_two_processes(trace: Trace, out: IO[str]) -> bool:
    """Write all the gates, the second half formatted by a forked child (into a temporary file,
    copied to `out` after this process's own half). False, with nothing written, where that
    cannot be done: no fork (or it fails), no real file, an encoding that would write a second
    byte-order mark, or SIGCHLD ignored."""
    import os
    import signal

    try:
        target = out.buffer  # type: ignore[attr-defined]
        out.fileno()
        plain = "a".encode(out.encoding) == b"a"  # (no BOM: utf-8-sig, utf-16 fork nothing)
    except (AttributeError, OSError, ValueError, LookupError, TypeError):
        return False
    if not plain or not hasattr(os, "fork"):
        return False
    if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
        return False  # (children are reaped unseen: whether ours succeeded would be unknown)
    import shutil
    import tempfile

    n = len(trace.graph)
    half = n // 2
    try:
        part = tempfile.TemporaryFile()
    except OSError:  # (no temporary folder): one process
        return False
    with part:
        try:
            out.flush()
            pid = os.fork()
        except OSError:  # (no memory or processes left): one process
            return False
        if pid == 0:  # the child: write its half to the temporary file, then leave at once
            code = 1
            try:
                import io

                text = io.TextIOWrapper(part, encoding=out.encoding, errors=out.errors)
                _write_gates(trace, half, n, text)
                text.flush()
                code = 0
            finally:
                os._exit(code)
        try:
            _write_gates(trace, 0, half, out)
        except BaseException:  # (a closed pipe, Ctrl-C): the child's half is not wanted
            _end_child(pid, kill=True)
            raise
        if not _end_child(pid):  # (the child failed: this process writes its half after all)
            _write_gates(trace, half, n, out)
            return True
        out.flush()
        part.seek(0)
        shutil.copyfileobj(part, target, 1 << 20)
    return True


def _end_child(pid: int, kill: bool = False) -> bool:
    """Wait for the child (killing it first if asked); True if it exited with success."""
    import os
    import signal

    try:
        if kill:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    except OSError:  # (already gone, reaped by someone else)
        return False
    return status == 0


def _write_gates(trace: Trace, lo: int, hi: int, out: IO[str]) -> None:
    """The gates lo..hi-1 of the "gates" list, each block after the first preceded by ", "."""
    from json.encoder import encode_basestring as quote  # the C string encoder json uses

    graph = trace.graph
    num = float.__repr__
    kinks = _kink_functions(graph)
    separator = ", " if lo else ""  # nothing before the first gate, ", " before every later block
    block = 8192
    for start in range(lo, hi, block):
        nodes = range(start, min(hi, start + block))
        end = nodes.stop
        names = ["null" if m is None else quote(m) for m in graph.names[start:end]]
        kinds = graph.ops[start:end]
        wiring = _wiring_json(graph, start, end)
        values = trace.values[start:end]
        positions = graph.positions(start, end)
        sources = [quote(text) for text in graph.sources(start, end)]
        if kinks:
            notes = [_note_json(kinks, kind, trace, i, quote)
                     for kind, i in zip(kinds, nodes, strict=True)]
        else:
            notes = ["null"] * len(nodes)
        if trace.grads is None:
            grad_fields = [""] * len(nodes)
        else:
            grad_fields = _grad_fields(trace, start, end, num)
        gates = [
            f'{{"id": {i}, "name": {name}, "op": "{kind}", "inputs": [{a}], "shape": [], '
            f'"value": {num(v)}{grads}, "source": {src}, "line": {pos[0]}, '
            f'"column": {pos[1]}, "note": {note}}}'
            for i, name, kind, a, v, grads, src, pos, note in zip(
                nodes, names, kinds, wiring, values, grad_fields, sources, positions, notes,
                strict=True)
        ]
        out.write(separator + ", ".join(gates))
        separator = ", "


def _wiring_json(graph: Graph, lo: int, hi: int) -> list[str]:
    """The "inputs" lists of nodes lo..hi-1, read straight from the flat wiring arrays."""
    wires = graph.args
    return [
        "" if k == 0 else f"{a}" if k == 1 else f"{a}, {b}" if k == 2 else
        ", ".join(map(str, wires.more[node]))
        for node, k, a, b in zip(range(lo, hi), wires.arity[lo:hi], wires.first[lo:hi],
                                 wires.second[lo:hi], strict=True)
    ]


def _grad_fields(trace: Trace, lo: int, hi: int, num: Any) -> list[str]:
    """The gradient fields of gates lo..hi-1, formatted a column at a time where gates have at
    most two inputs (every built-in op), gate by gate otherwise (a def with more)."""
    arity = trace.graph.args.arity[lo:hi]
    grads = trace.grads[lo:hi]
    columns = getattr(trace.local, "columns", None)  # engine.LocalGradients: one per wire
    if columns is None or len(columns) > 2:
        return [_grad_fields_of(trace, node, num) for node in range(lo, hi)]
    nan = float("nan")
    first = columns[0][lo:hi] if columns else [nan] * (hi - lo)
    second = columns[1][lo:hi] if len(columns) > 1 else [nan] * (hi - lo)
    local0 = ["null" if d != d else num(d) for d in first]  # NaN: no gradient on this wire
    local1 = ["null" if d != d else num(d) for d in second]
    down0 = ["null" if d != d else num(g * d) for g, d in zip(grads, first, strict=True)]
    down1 = ["null" if d != d else num(g * d) for g, d in zip(grads, second, strict=True)]
    return [
        f', "grad": {num(g)}, "local": [], "downstream": []' if not k else
        f', "grad": {num(g)}, "local": [{l0}], "downstream": [{d0}]' if k == 1 else
        f', "grad": {num(g)}, "local": [{l0}, {l1}], "downstream": [{d0}, {d1}]'
        for k, g, l0, l1, d0, d1 in zip(arity, grads, local0, local1, down0, down1, strict=True)
    ]


def _grad_fields_of(trace: Trace, node: int, num: Any) -> str:
    row = trace.local[node]
    if row is None:
        row = (None,) * len(trace.graph.args[node])
    up = trace.grads[node]
    local = ", ".join("null" if d is None else num(d) for d in row)
    down = ", ".join("null" if d is None else num(up * d) for d in row)
    return f', "grad": {num(up)}, "local": [{local}], "downstream": [{down}]'


def _note_json(kinks: dict[str, Any], kind: str, trace: Trace, node: int, quote: Any) -> str:
    kink = kinks.get(kind)
    if kink is None:
        return "null"
    note = kink(*(trace.values[i] for i in trace.graph.args[node]))
    return "null" if note is None else quote(note)


def _kink_functions(graph: Graph) -> dict[str, Any]:
    found = {}
    for kind in set(graph.ops):
        if kind not in (INPUT, CONST):
            op = graph.op_or_none(kind)
            if op is not None and op.kink is not None:
                found[kind] = op.kink
    return found


def to_json_head(trace: Trace, inputs: dict[str, float]) -> dict[str, Any]:
    """The document without its gates."""
    graph = trace.graph
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "output": graph.label(graph.output),
        "value": trace.output_value,
        "inputs": {name: float(inputs[name]) for name in graph.inputs},
    }
    if trace.grads is not None:
        doc["gradients"] = {name: trace.grads[node] for name, node in graph.inputs.items()}
    return doc


# --- large circuits: a summary instead of a row per gate ----------------------------------------

TABLE_LIMIT = 300  # above this many nodes, the tables show a summary (--all shows every row)
SUMMARY_INPUTS = 50
TOP_GATES = 10


def summary_view(trace: Trace, number_format: FormatOrPrecision = DEFAULT_FORMAT) -> list[Any]:
    """Counts per op, the output, the inputs (with their gradients), the top gates by |gradient|,
    and how to see everything."""
    number_format = as_number_format(number_format)
    import heapq
    from collections import Counter

    graph = trace.graph
    n = len(graph)
    counts = Counter(graph.ops)
    shown: list[Any] = [Text.from_markup(
        f"[bold]{n:,} nodes[/]: {n - counts[INPUT] - counts[CONST]:,} gates, "
        f"{counts[INPUT]:,} input{'s' if counts[INPUT] != 1 else ''}, "
        f"{counts[CONST]:,} constant{'s' if counts[CONST] != 1 else ''}. "
        f"Too many to list one by one (more than {TABLE_LIMIT}): a summary follows."
    )]
    ops = FittedTable("Gates per op", [Column("op"), Column("symbol", "center"),
                                        Column("count", "right", NUMBER)])
    for kind, count in counts.most_common():
        if kind not in (INPUT, CONST):
            ops.add_row(kind, graph.op_or_none(kind).symbol, f"{count:,}")
    shown.append(ops)
    backward = trace.grads is not None
    fname = graph.label(graph.output)
    names = list(graph.inputs)
    columns = [Column("input"), Column("value", "right", NUMBER)]
    if backward:
        columns.append(Column(f"∂{fname}/∂input", "right", NUMBER))
    inputs = FittedTable("Inputs" + (f" (the first {SUMMARY_INPUTS} of {len(names):,})"
                                     if len(names) > SUMMARY_INPUTS else ""), columns)
    for name in names[:SUMMARY_INPUTS]:
        node = graph.inputs[name]
        row = [name, _styled(number_format.value(trace.values[node]), VALUE_STYLE)]
        if backward:
            row.append(_styled(number_format.value(trace.grads[node]), GRAD_STYLE))
        inputs.add_row(*row)
    shown.append(inputs)
    if backward:
        grads, kinds = trace.grads, graph.ops
        gates = heapq.nlargest(
            TOP_GATES,
            (i for i in range(n) if kinds[i] not in (INPUT, CONST) and i != graph.output),
            key=lambda i: abs(grads[i]),
        )
        top = FittedTable(f"Top {TOP_GATES} gates by |∂{fname}/∂gate|", [
            Column("#", "right", NUMBER), Column("gate"), Column("op", drop=2),
            Column("source", drop=1), Column("value", "right", NUMBER),
            Column(f"∂{fname}/∂gate", "right", NUMBER),
        ])
        for i in gates[:TOP_GATES]:
            top.add_row(str(i), graph.label(i), symbol(graph, i), graph.source(i, 40),
                        _styled(number_format.value(trace.values[i]), VALUE_STYLE),
                        _styled(number_format.value(trace.grads[i]), GRAD_STYLE))
        shown.append(top)
    shown.append(output_line(trace, number_format))
    shown.append(Text("Every gate, row by row: add --all (long), or --json for scripts."))
    return shown
