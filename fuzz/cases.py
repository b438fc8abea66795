"""Every kind of input the fuzz makes, by weight: valid programs built from the op registry (the
most: they reach the engines, checks and views), derivations of the grammar, mutations of the
shipped circuits, the shipped circuits as they are, and the exercises with their answers."""

from __future__ import annotations

from fuzz.choices import Chooser, weighted
from fuzz.commands import Case, Info, command_case
from fuzz.programs import big_program, program
from fuzz.texts import circuit_files, corpus, derive, mutate

KINDS = ((100, "program"), (20, "grammar"), (40, "mutation"), (20, "shipped"), (10, "exercise"),
         (1, "big"))


def source(ch: Chooser, kind: str) -> Info:
    """The circuit of one case, and what the command line may refer to in it."""
    if kind == "program":
        return Info.of(program(ch))
    if kind == "big":  # past the tables' 300 rows; now and then past the bulk engine's 20,000
        return Info.of(big_program(ch, ch.integer(20_000, 25_000) if ch.coin(0.02)
                                   else ch.integer(300, 1500)))
    if kind == "grammar":
        return Info.parsed(ch, derive(ch, max_depth=ch.integer(3, 12)))
    _, text = ch.pick(circuit_files())
    if kind == "mutation":
        return Info.parsed(ch, mutate(ch, text))
    info = Info.parsed(ch, text)
    info.smooth = True  # (the shipped circuits, at their own values)
    return info


def exercise_case(ch: Chooser) -> Case:
    """`circuit grade` on a shipped exercise, with one of its answer files (maybe mutated)."""
    folders = sorted({p.rsplit("/", 1)[0] for p, _ in corpus() if p.startswith("exercises/")})
    folder = ch.pick(folders)
    texts = dict(corpus())
    circuit = texts[f"{folder}/circuit.circ"]
    answers = [p for p in texts if p.startswith(folder + "/") and not p.endswith("circuit.circ")]
    path = ch.pick(answers)
    answer = texts[path]
    if ch.coin(0.5):
        answer = mutate(ch, answer)
    if ch.coin(0.2):
        circuit = mutate(ch, circuit, rounds=1)
    case = command_case(ch, Info.parsed(ch, circuit), "grade", kind="exercise")
    name = "quiz.json" if path.endswith(".json") else "answers.circ"
    old = case.args.index(next(a for a in case.args if a in ("answers.circ", "quiz.json")))
    case.files.pop(case.args[old], None)
    case.args[old] = name
    case.files[name] = answer
    return case


def generate(ch: Chooser, costly: float = 1.0, kinds: tuple[tuple[int, str], ...] = KINDS
             ) -> Case:
    """One case of any kind (the long run and the CI test draw from this)."""
    kind = weighted(ch, kinds)
    if kind == "exercise":
        return exercise_case(ch)
    return command_case(ch, source(ch, kind), kind=kind, costly=costly)
