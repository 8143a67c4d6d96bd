"""Build small but real Argos Translate packages offline, in about a second, for tests and benches.

The model is a genuine CTranslate2 Transformer (one encoder and one decoder layer) whose weights
are set by hand rather than trained, so that decoder step t attends to source position t and
emits a fixed target piece for the source piece found there: a deterministic "cipher" from Latin
pieces to Cyrillic ones that copies digits and punctuation. Output length equals input length, so
it never runs away. What it exercises is everything around the model: package layout,
SentencePiece tokenisation, batching, target prefixes, source tokens added by the model config,
and the masking that protects numbers and names.

How the weights work (d = K + P dimensions: K for a token code, P for a position address):

* encoder input  x_i = [M·code(token_i), addr(i)], codes ±1 with mean 0, addresses unit vectors
  with mean 0; the layer's weights are zero, so the final LayerNorm only rescales, and its gains
  are chosen so the encoder outputs exactly [code(token_i), addr(i)];
* decoder step t has a zero token embedding and position encoding addr(t - prefix length); the
  cross-attention query and key read the address part (sharpened by ``sharpness``) and the value
  reads the code part, so step t copies code(token_t);
* the output projection scores target piece j by its agreement with the codes of the source
  pieces mapped to j.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CORPUS = {
    "en": [
        "Floods damaged roads, schools and health facilities in the northern region.",
        "Humanitarian partners delivered food assistance to 12,000 people this week.",
        "The United Nations appealed for additional funding to support displaced families.",
        "Mobile health teams vaccinated children against measles in remote villages.",
        "Officials confirmed that hundreds of protesters were arrested and charged.",
        "The Red Crescent released emergency relief to families affected by the floods.",
        "Temperatures are expected to drop below zero, increasing the need for winter supplies.",
        "Access to clean water remains a critical concern in several districts.",
        # every letter, digit and common sign, so that no character is unknown to the model
        "The quick brown fox jumps over the lazy dog; THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!",
        "Figures: 0 1 2 3 4 5 6 7 8 9, 701 702 703 704 705 706 707 708 709 (41%) [-15°C] & 3.5 $ € @ / ?",
        'Signs: "quoted" ‘single’ “double” «angle» – — • + = * # _ ; … ’s',
    ],
    "ru": [
        "Наводнения повредили дороги, школы и медицинские учреждения в северном регионе.",
        "Гуманитарные партнеры доставили продовольственную помощь 12 000 человек.",
        "Организация Объединенных Наций призвала выделить дополнительное финансирование.",
        "Мобильные медицинские бригады вакцинировали детей против кори.",
        "Доступ к чистой воде остается критической проблемой в нескольких районах.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю. СЪЕШЬ ЖЕ ЕЩЁ ЭТИХ БУЛОК!",
    ],
    "kk": [
        "Су тасқыны солтүстік өңірдегі жолдарды, мектептер мен аурухананы зақымдады.",
        "Гуманитарлық серіктестер осы аптада 12 000 адамға азық-түлік көмегін жеткізді.",
        "Біріккен Ұлттар Ұйымы қосымша қаржы бөлуге шақырды.",
        "Қызыл Жарты Ай қоғамы зардап шеккен отбасыларға көмек көрсетті.",
        "Жылжымалы медициналық топтар балаларға қызылшаға қарсы екпе салды.",
        "Әсем, ғажап, қоңыр, өзен, ұшқыр, үміт, һәм іні: ӘҒҚҢӨҰҮҺІ.",
    ],
}
NAMES = {"en": "English", "ru": "Russian", "kk": "Kazakh"}
_LATIN_TO_CYRILLIC = {
    "ru": dict(zip("abcdefghijklmnopqrstuvwxyz", "абкдефгхиджклмнопкрстуввксйз", strict=False)),
    "kk": dict(zip("abcdefghijklmnopqrstuvwxyz", "әбқдефғһіжқлмңөпқрсұүвуксүз", strict=False)),
}


@dataclass(frozen=True)
class TinyPackage:
    """A built package: its folder, its .argosmodel archive and its language pair."""

    folder: Path
    archive: Path
    from_code: str
    to_code: str


def _is_latin(piece: str) -> bool:
    return any("a" <= ch.lower() <= "z" for ch in piece)


def _is_cyrillic(piece: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in piece)


def train_tokenizer(folder: Path, vocab_size: int = 500,
                    sentences: Iterable[str] | None = None) -> list[str]:
    """Train a SentencePiece model on ``sentences`` (by default the inline corpus); return its
    pieces. ``vocab_size`` is a ceiling: a small text gives fewer pieces."""
    import sentencepiece as spm

    if sentences is None:
        sentences = [s for lines in CORPUS.values() for s in lines]
    with open(os.devnull, "w") as quiet:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_prefix=str(folder / "sentencepiece"),
            vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
            hard_vocab_limit=False, num_threads=1, logstream=quiet,
        )
    (folder / "sentencepiece.vocab").unlink()
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def _script_of(code: str) -> Callable[[str], bool]:
    return _is_latin if code == "en" else _is_cyrillic


def cipher(
    pieces: list[str], from_code: str, to_code: str
) -> tuple[list[str], list[str], dict[str, str]]:
    """Source vocabulary (pieces of the source script, digits, punctuation), target vocabulary
    (pieces of the target script, digits, punctuation) and a one-to-one map between them:
    digits and punctuation map to themselves, letters to letters of the target script."""
    in_source, in_target = _script_of(from_code), _script_of(to_code)

    def lettered(piece: str) -> bool:
        return _is_latin(piece) or _is_cyrillic(piece)

    specials, rest = pieces[:3], pieces[3:]
    source = specials + [p for p in rest if in_source(p) or not lettered(p)]
    target = specials + [p for p in rest if in_target(p) or not lettered(p)]
    mapping = {p: p for p in source if p in specials or not lettered(p)}
    free = sorted((p for p in target if lettered(p)), key=lambda p: (len(p), p))
    table = _LATIN_TO_CYRILLIC.get(to_code, _LATIN_TO_CYRILLIC["ru"])
    for piece in sorted((p for p in source if p not in mapping), key=lambda p: (-len(p), p)):
        if from_code == "en" and to_code != "en":
            wanted = "".join(table.get(ch.lower(), ch) for ch in piece)
        else:
            wanted = piece[::-1]  # any deterministic choice that differs from the source
        same_start = [q for q in free if q.startswith("▁") == piece.startswith("▁")] or free
        if not same_start:
            mapping[piece] = "<unk>"
            continue
        best = max(same_start, key=lambda q: (_overlap(wanted, q), -abs(len(q) - len(wanted)), q))
        mapping[piece] = best
        free.remove(best)
    return source, target, mapping


def _overlap(a: str, b: str) -> int:
    return sum(1 for x, y in zip(a, b, strict=False) if x == y) + len(set(a) & set(b))


def build_model(
    folder: Path, source: list[str], target: list[str], mapping: dict[str, str], *,
    prefix_len: int = 0, code_dims: int = 32, address_dims: int = 32, positions: int = 1024,
    seed: int = 7,
) -> None:
    """Write the hand-weighted CTranslate2 model to ``folder / "model"``."""
    import ctranslate2

    k, p = code_dims, address_dims
    d = k + p
    tok, pos = slice(0, k), slice(k, d)
    f32 = np.float32
    rng = np.random.default_rng(seed)
    codes_set: set[tuple[float, ...]] = set()
    codes: list[np.ndarray] = []
    while len(codes) < len(source):
        code = rng.permutation(np.repeat([1.0, -1.0], k // 2))
        if tuple(code) not in codes_set:
            codes_set.add(tuple(code))
            codes.append(code)
    code_matrix = np.asarray(codes, f32)
    address = rng.normal(size=(positions, p))
    address -= address.mean(axis=1, keepdims=True)
    address /= np.linalg.norm(address, axis=1, keepdims=True)
    gram = address @ address.T
    np.fill_diagonal(gram, -1.0)
    sharpness = 30.0 / (1.0 - gram.max())
    scale, gain, logit_scale = 10.0, 10.0, 2.0

    def norm(spec: object, gamma: np.ndarray) -> None:
        spec.gamma = np.asarray(gamma, f32)  # type: ignore[attr-defined]
        spec.beta = np.zeros(d, f32)  # type: ignore[attr-defined]

    def dense(spec: object, weight: np.ndarray) -> None:
        spec.weight = np.asarray(weight, f32)  # type: ignore[attr-defined]
        spec.bias = np.zeros(weight.shape[0], f32)  # type: ignore[attr-defined]

    def silence(layer: object) -> None:
        """Zero self-attention and feed-forward: the residual stream passes unchanged."""
        attention, ffn = layer.self_attention, layer.ffn  # type: ignore[attr-defined]
        norm(attention.layer_norm, np.ones(d))
        dense(attention.linear[0], np.zeros((3 * d, d)))
        dense(attention.linear[1], np.zeros((d, d)))
        norm(ffn.layer_norm, np.ones(d))
        dense(ffn.linear_0, np.zeros((d, d)))
        dense(ffn.linear_1, np.zeros((d, d)))

    spec = ctranslate2.specs.TransformerSpec.from_config((1, 1), num_heads=1)
    spec.config.add_source_eos = True  # the copied </s> ends the output
    encoder, decoder = spec.encoder, spec.decoder
    encoder.scale_embeddings = False
    decoder.scale_embeddings = False

    embeddings = np.zeros((len(source), d), f32)
    embeddings[:, tok] = scale * code_matrix
    encoder.embeddings[0].weight = embeddings
    encoder_positions = np.zeros((positions, d), f32)
    encoder_positions[:, pos] = address
    encoder.position_encodings.encodings = encoder_positions
    silence(encoder.layer[0])
    sigma = np.sqrt((scale * scale * k + 1.0) / d)
    gains = np.full(d, sigma, f32)
    gains[tok] = sigma / scale
    norm(encoder.layer_norm, gains)

    decoder.embeddings.weight = np.zeros((len(target), d), f32)
    decoder_positions = np.zeros((positions, d), f32)
    decoder_positions[prefix_len:, pos] = address[: positions - prefix_len]
    decoder.position_encodings.encodings = decoder_positions
    layer = decoder.layer[0]
    silence(layer)
    norm(layer.attention.layer_norm, np.ones(d))
    query = np.zeros((d, d), f32)
    query[pos, pos] = sharpness * np.eye(p)
    dense(layer.attention.linear[0], query)
    key_value = np.zeros((2 * d, d), f32)
    key_value[:d][pos, pos] = np.eye(p)
    key_value[d:][tok, tok] = np.eye(k)
    dense(layer.attention.linear[1], key_value)
    out = np.zeros((d, d), f32)
    out[tok, tok] = gain * np.eye(k)
    dense(layer.attention.linear[2], out)
    norm(decoder.layer_norm, np.ones(d))
    projection = np.zeros((len(target), d), f32)
    index = {piece: i for i, piece in enumerate(target)}
    for s, piece in enumerate(source):
        projection[index[mapping[piece]], tok] += logit_scale * code_matrix[s]
    dense(decoder.projection, projection)

    spec.register_source_vocabulary(source)
    spec.register_target_vocabulary(target)
    spec.validate()
    spec.optimize(quantization=None)
    (folder / "model").mkdir(parents=True, exist_ok=True)
    spec.save(str(folder / "model"))


def build_splitter(path: Path) -> Path:
    """A rule-based MiniSBD sentence splitter as a tiny ONNX graph, so that
    ``argostranslate.translate`` finds a splitter inside the package and downloads none.

    MiniSBD reads per-character class logits [B, T, 5] (stanza's tokenizer classes; 2 marks a
    sentence end). Characters are encoded by a five-unit vocabulary (``.``, ``!``, ``?``,
    space; everything else unknown); a full stop, ``!`` or ``?`` followed by a space or by
    the end of the text ends a sentence, every other character ends a token.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    units = ["<PAD>", "<UNK>", " ", ".", "!", "?"]
    ends_sentence = np.array([0, 0, 0, 1, 1, 1], np.float32)

    def const(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(value, name)

    nodes = [
        helper.make_node("Gather", ["ends_sentence", "units"], ["terminal"], axis=0),
        helper.make_node("Slice", ["units", "one", "huge", "axis1"], ["after"]),
        helper.make_node("Slice", ["units", "zero", "one", "axis1"], ["first_column"]),
        helper.make_node("Sub", ["first_column", "first_column"], ["pad_column"]),
        helper.make_node("Concat", ["after", "pad_column"], ["next_unit"], axis=1),
        helper.make_node("Less", ["next_unit", "three"], ["next_is_gap"]),  # pad, unk, space
        helper.make_node("Equal", ["next_unit", "one"], ["next_is_unknown"]),
        helper.make_node("Not", ["next_is_unknown"], ["next_is_not_unknown"]),
        helper.make_node("And", ["next_is_gap", "next_is_not_unknown"], ["breaks"]),
        helper.make_node("Cast", ["breaks"], ["breaks_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["terminal", "breaks_float"], ["sentence_end"]),
        helper.make_node("Unsqueeze", ["sentence_end", "axis2"], ["sentence_end_3d"]),
        helper.make_node("Mul", ["sentence_end_3d", "boost"], ["boosted"]),
        helper.make_node("Add", ["boosted", "base"], ["logits"]),
    ]
    initializers = [
        const("ends_sentence", ends_sentence),
        const("zero", np.array([0], np.int64)), const("one", np.array([1], np.int64)),
        const("three", np.array(3, np.int64)), const("huge", np.array([1 << 40], np.int64)),
        const("axis1", np.array([1], np.int64)), const("axis2", np.array([2], np.int64)),
        const("boost", np.array([0, 0, 10, 0, 0], np.float32)),
        const("base", np.array([0, 1, 0, -5, -5], np.float32)),
    ]
    graph = helper.make_graph(
        nodes, "rule_splitter",
        [helper.make_tensor_value_info("units", TensorProto.INT64, ["B", "T"]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", "T", "F"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", 5])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    vocab = {"lang": "xx", "idx": 0, "cutoff": 0, "lower": False,
             "_unit2id": {u: i for i, u in enumerate(units)}, "_id2unit": units}
    config = {"feat_funcs": [], "use_dictionary": False, "max_seqlen": 1000, "batch_size": 32}
    for key, value in {"lang_code": "xx", "config": json.dumps(config),
                       "vocab": json.dumps(vocab), "lexicon": "null"}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_package(
    work: Path, from_code: str = "en", to_code: str = "ru", *, target_prefix: str | None = None,
    version: str = "1.0", name: str | None = None, splitter: bool = False,
) -> TinyPackage:
    """Build ``translate-<from>_<to>`` in ``work`` and zip it as an .argosmodel.

    ``target_prefix`` makes an NLLB-style package (the decoder is forced to start with that
    token, which must then be stripped). ``splitter`` adds a MiniSBD sentence splitter, which
    only argostranslate's own ``translate`` needs (the benchmark's baseline).
    """
    code = name or f"translate-{from_code}_{to_code}"
    folder = work / code
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    pieces = train_tokenizer(folder)
    source, target, mapping = cipher(pieces, from_code, to_code)
    if target_prefix:
        target.append(target_prefix)
    build_model(folder, source, target, mapping, prefix_len=1 if target_prefix else 0)
    if splitter:
        build_splitter(folder / "minisbd" / "xx.onnx")
    metadata: dict[str, object] = {
        "package_version": version, "argos_version": "1.9", "type": "translate", "code": code,
        "from_code": from_code, "from_name": NAMES[from_code],
        "to_code": to_code, "to_name": NAMES[to_code], "links": [],
    }
    if target_prefix:
        metadata["target_prefix"] = target_prefix
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    (folder / "README.md").write_text("Tiny hand-weighted test model. Not a translator.\n")
    archive = work / f"{code}.argosmodel"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(work))
    return TinyPackage(folder, archive, from_code, to_code)

