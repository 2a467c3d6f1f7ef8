"""STEM prose inside general sources: which encyclopedia articles and news stories a person would
call science, medicine, engineering or mathematics.

Per-source labels made "STEM" mean exam and LaTeX format and "prose" mean commonsense, so a
model trained on them read textbook chapters and paper abstracts as commonsense. This module
relabels documents of commonsense sources in two steps:

1. a lexicon rule with two signals that must agree:

   - **terminology**: the share of a document's words (English) or characters (Chinese, Simplified
  and Traditional) that belong to a fixed lexicon of field vocabulary — sciences, medicine,
  mathematics, engineering and computing (`EN_TERMS`, `ZH_TERMS`);
   - **breadth**: how many *different* lexicon terms occur. One repeated word (a football club
     named "Dynamo", a novel about a doctor) gives density without breadth; real STEM prose
     uses many terms of its field.

   `stem` when density and breadth are both high, `commonsense` when density is low,
   `ambiguous` in between. The rule learns nothing from the data, so it holds the same for
   folds that hold out every STEM-prose source.
2. a first model for the ambiguous band: fastText trained on the training seeds' STEM documents
   plus the rule's sure STEM prose against the rule's sure plain prose. An ambiguous document
   becomes STEM only when the model agrees (P(stem) >= `model_stem`), stays commonsense when
   the model is sure it is plain (< `model_plain`), and is otherwise left out of the seeds
   rather than given a label a person might not give.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass

# Field vocabulary (English word stems, matched at the start of a lower-cased word).
EN_TERMS = tuple("""
physics physicist chemistry chemical chemist biology biological biologist molecule molecular atom atomic
electron proton neutron photon quantum particle nucleus nuclear isotope ion ionic electrolyte
protein enzyme amino cellular membrane gene genetic genome chromosome dna rna mutation bacteria bacterium
bacterial virus viral microb organism organisms species evolution evolutionary taxonomy fossil
neuron neural cardiac cardiovascular clinical patient patients disease diseases therapy therapeutic
diagnosis diagnostic symptom syndrome medicine medical pathology pathogen infection infectious vaccine
antibod immune tumor tumour cancer carcinoma surgery surgical tissue tissues hormone insulin metabolism
metabolic pharmac drug dosage toxic toxin anatomy physiolog epidemiolog
geology geological mineral crystal crystalline sediment volcanic tectonic seismic climate atmospheric
ecology ecological ecosystem photosynthesis
compound compounds reaction reactions acid acids oxide oxidation catalyst catalytic polymer molecule
hydrogen oxygen nitrogen carbon sodium calcium potassium sulfur chlorine metal metallic alloy solvent
temperature thermal thermodynamic entropy pressure energy kinetic velocity acceleration momentum
frequency wavelength radiation spectrum spectral spectroscopy laser optical magnetic magnetism
electromagnetic electric electrical voltage circuit resistor capacitor transistor semiconductor
conductivity conductor insulator inductance
orbit orbital planet planetary stellar galaxy galactic telescope astronomer astronomy astronomical
cosmic cosmology asteroid comet nebula supernova
mathematics mathematical mathematician theorem lemma corollary proof axiom equation equations integer
integers polynomial matrix matrices vector vectors algebra algebraic geometry geometric topology
topological calculus derivative integral differential function functions variable variables
probability statistical statistics stochastic algorithm algorithms computational computation
coefficient parameter parameters logarithm exponential prime manifold eigenvalue finite infinite
theorem hypothesis experiment experimental empirical measurement laboratory quantitative specimen
engineering engineer mechanical hydraulic turbine combustion aerodynamic propulsion reactor
software hardware processor computer computing programming compiler database
""".split())

# Chinese field vocabulary, Simplified and Traditional (zhwiki is mostly Traditional).
ZH_TERMS = tuple("""
数学 數學 物理 化学 化學 生物 医学 醫學 工程 细胞 細胞 基因 蛋白 分子 原子 电子 電子 质子 質子 中子 光子 量子
粒子 离子 離子 同位素 能量 方程 函数 函數 定理 证明 證明 几何 幾何 代数 代數 概率 機率 统计 統計 算法 演算法
计算机 計算機 電腦 温度 溫度 压强 壓強 压力 壓力 速度 加速度 频率 頻率 波长 波長 辐射 輻射 光谱 光譜 磁场 磁場
电场 電場 电磁 電磁 轨道 軌道 行星 恒星 恆星 星系 望远镜 望遠鏡 天文 化合物 反应 反應 氧化 催化 聚合物
氢 氫 氧气 氧氣 氮 碳 金属 金屬 合金 晶体 晶體 矿物 礦物 地质 地質 化石 物种 物種 生态 生態 进化 演化
疾病 病毒 细菌 細菌 微生物 症状 症狀 治疗 治療 诊断 診斷 药物 藥物 患者 临床 臨床 手术 手術 器官 组织 組織
神经 神經 心脏 心臟 激素 免疫 疫苗 癌 肿瘤 腫瘤 感染 代谢 代謝 解剖 生理 病理
实验 實驗 测量 測量 参数 參數 系数 係數 变量 變量 變數 集合 数列 數列 向量 矩阵 矩陣 导数 導數 积分 積分 微分
电路 電路 电压 電壓 电流 電流 电阻 電阻 半导体 半導體 晶体管 電晶體 机械 機械 热力学 熱力學 熵 流体 流體
材料 气候 氣候 大气 大氣 光合作用 染色体 染色體 酶 蛋白质 蛋白質 遗传 遺傳 突变 突變 公式 坐标 座標 函数
""".split())

def trie_pattern(words) -> str:
    """A regex matching the longest of `words` that starts at a position, as the alternation of the words
    sorted longest first would, but branching one character at a time (a few hundred alternatives
    tried at every position made the lexicon scan the slowest part of seed building)."""
    trie: dict = {}
    for w in set(words):
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: a longer one is tried first (greedy), then this one
            return body + "?" if len(branches) == 1 and len(branches[0]) == 1 else "(?:" + body + ")?"
        return body

    return pattern(trie)


_EN_WORD = re.compile(r"[a-z]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_EN_RX = re.compile(r"\b" + trie_pattern(EN_TERMS), re.IGNORECASE)
_ZH_RX = re.compile(trie_pattern(ZH_TERMS))

STEM, COMMONSENSE, AMBIGUOUS = "stem", "commonsense", "ambiguous"


@dataclass(frozen=True)
class StemProseRule:
    """Thresholds of the two signals. Density is a share of words (en) or of Han characters (zh)."""

    stem_density: float = 0.03  # at least this share of the text is field vocabulary ...
    stem_breadth: int = 5  # ... spread over at least this many different terms
    plain_density: float = 0.01  # below this share: plain commonsense prose
    min_chars: int = 300  # shorter documents are too small to judge: left as they are
    model_stem: float = 0.5  # first model's P(stem) that turns an ambiguous document into STEM
    model_plain: float = 0.2  # ... and below which it stays commonsense


@dataclass(frozen=True)
class Evidence:
    density: float
    breadth: int
    units: int  # words or Han characters counted


def evidence(text: str) -> Evidence:
    """Lexicon density and breadth of a text; Chinese when Han characters outnumber Latin words."""
    sample = text[:6000]
    han = len(_CJK.findall(sample))
    words = _EN_WORD.findall(sample.lower())
    if han > len(words):
        hits = _ZH_RX.findall(sample)
        covered = sum(len(h) for h in hits)
        return Evidence(covered / han if han else 0.0, len(set(hits)), han)
    hits = _EN_RX.findall(sample.lower())
    return Evidence(len(hits) / len(words) if words else 0.0, len({h.lower() for h in hits}), len(words))


def judge(text: str | None, rule: StemProseRule = StemProseRule()) -> str | None:
    """`stem`, `commonsense` or `ambiguous` for a prose document; None when too short to judge."""
    if not text or len(text) < rule.min_chars:
        return None
    ev = evidence(text)
    if ev.density >= rule.stem_density and ev.breadth >= rule.stem_breadth:
        return STEM
    if ev.density < rule.plain_density:
        return COMMONSENSE
    return AMBIGUOUS


_VERDICTS: dict[tuple, str | None] = {}


def judge_cached(key: str, text: str | None, rule: StemProseRule) -> str | None:
    """`judge`, remembered per document key and rule for the process (a build scans sources twice)."""
    k = (key, rule)
    if k not in _VERDICTS:
        _VERDICTS[k] = judge(text, rule)
    return _VERDICTS[k]


LABEL = "stem/prose"
_PLAIN = "plain"


def relabel(data, rule: StemProseRule, seed: int = 0) -> None:
    """Relabel the commonsense text examples of a `SeedData` (train and held-out) in place.

    The first model is trained on training examples only, so held-out sources get their labels
    from the same procedure without ever teaching it. Each source's report gains
    `stem_prose: {relabelled, left_out}` and its label counts are recounted.
    """
    from trivium.mixtures.domain import bucket_of

    candidates = [e for e in data.train + data.heldout if bucket_of(e.label) == "commonsense" and e.text]
    verdicts = {id(e): judge(e.text, rule) for e in candidates}
    ambiguous = [e for e in candidates if verdicts[id(e)] == AMBIGUOUS]
    p_stem = _first_model_stem(data.train, candidates, verdicts, ambiguous, seed)
    moved: dict[str, list[int]] = {}
    drop = set()
    for e in candidates:
        v = verdicts[id(e)]
        if v == AMBIGUOUS:
            p = p_stem.get(id(e), 0.5)
            v = STEM if p >= rule.model_stem else COMMONSENSE if p < rule.model_plain else AMBIGUOUS
        counts = moved.setdefault(e.source, [0, 0])
        if v == STEM:
            e.label = LABEL
            counts[0] += 1
        elif v == AMBIGUOUS:
            drop.add(id(e))
            counts[1] += 1
    data.train[:] = [e for e in data.train if id(e) not in drop]
    data.heldout[:] = [e for e in data.heldout if id(e) not in drop]
    for source, (n_stem, n_out) in moved.items():
        report = data.report.setdefault(source, {})
        report["stem_prose"] = {"relabelled": n_stem, "left_out": n_out}
        kept = [e.label for e in data.train + data.heldout if e.source == source]
        report["labels"] = dict(sorted(Counter(kept).items()))
        report["used"] = len(kept)


def _first_model_stem(train, candidates, verdicts, ambiguous, seed: int) -> dict[int, float]:
    """P(stem) of each ambiguous document under a model of STEM seeds + sure STEM prose vs sure plain prose."""
    from trivium.filters.fasttext_text import Example, FastTextClassifier, TrainParams, balance, train_fasttext
    from trivium.mixtures.domain import bucket_of

    if not ambiguous:
        return {}
    in_train = {id(e) for e in train}
    stem = [e for e in train if bucket_of(e.label) == "stem" and e.text]
    stem += [e for e in candidates if id(e) in in_train and verdicts[id(e)] == STEM]
    plain = [e for e in candidates if id(e) in in_train and verdicts[id(e)] == COMMONSENSE]
    if not stem or not plain:
        return {}
    examples = [Example(label="stem", text=e.text, source=e.source) for e in stem]
    examples += [Example(label=_PLAIN, text=e.text, source=e.source) for e in plain]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "first.bin")
        train_fasttext(balance(examples, seed), path, TrainParams(seed=seed))
        clf = FastTextClassifier(path)
        probs = clf.proba_docs([e.text for e in ambiguous])[:, clf.index["stem"]]
    return {id(e): float(p) for e, p in zip(ambiguous, probs)}
