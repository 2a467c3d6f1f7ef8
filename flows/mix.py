"""Spark wiring of `trivium mix stats` and `trivium mix build` (the logic is in trivium.mixtures).

Both read a committed curate stage (the documents its manifest lists), label every document with
a `bucket` (the domain stage's `domain`, else the recipe's labels for its source, else
`unlabelled`) and a `subdomain`, render conversations and count tokens (`PrepareBatches`).

- stats: one aggregation over the prepared documents, one count per cell and selection
  (`*` plus each stage's filter/min_tokens) -> `OUTPUT/stats.json` + `_manifest.json`.
- build: per recipe stage, the stage's filter, then the sampling rule of `trivium.mixtures.sampling`,
  written by the stage runner to `OUTPUT/<NN>_<stage>/` (Parquet + manifest; `seq_len`, the plan
  and the measured tokens per cell in the manifest's `extra`).

Filters are Spark SQL (`F.expr`), analysed against the documents' schema before anything runs;
an unknown column is a one-line `MixError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time

from pydantic import BaseModel
from trivium.flows import io
from trivium.flows.manifest import FileEntry, Manifest, config_hash, read_manifest, write_manifest
from trivium.flows.stage import COUNTERS, read_documents, run_stage, with_outcome
from trivium.mixtures.plan import Plan, StagePlan
from trivium.mixtures.recipe import UNLABELLED, Recipe, SourceLabel, Stage
from trivium.mixtures.sampling import SPANS_DDL, PrepareBatches, quotas
from trivium.mixtures.stats import STATS_NAME, Cell, Stats, dumps_stats

MIX_CODE_VERSION = "1"
CELL = ("source", "bucket", "subdomain")


class MixError(ValueError):
    """Bad mixture input (curated folder, filter, tokenizer): one line for the CLI."""


def curated_manifest(curated: str) -> Manifest:
    manifest = read_manifest(curated)
    if manifest is None:
        raise MixError(f"{curated}: not a committed stage folder (no _manifest.json); pass a curate stage, "
                       "e.g. RUN/09_domain")
    return manifest


def tokenizer_fingerprint(path: str | None) -> str | None:
    if path is None:
        return None
    file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise MixError(f"tokenizer: {path!r} has no tokenizer.json (a `trivium tokenizer train` output)")
    with open(file, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Preparation(BaseModel):
    """Everything that decides a document's text and token count (part of every config hash)."""

    labels: dict[str, SourceLabel] = {}
    tokenizer: str | None = None
    tokenizer_sha256: str | None = None
    bytes_per_token: dict[str, float] = {}

    @classmethod
    def of(cls, recipe: Recipe) -> Preparation:
        return cls(labels=recipe.source_labels(), tokenizer=recipe.tokenizer,
                   tokenizer_sha256=tokenizer_fingerprint(recipe.tokenizer), bytes_per_token=recipe.bytes_per_token)


def prepared_documents(spark, curated: str, manifest: Manifest, prep: Preparation):
    """The curated documents with bucket, subdomain, rendered text, loss_spans, n_bytes, n_tokens, render_error."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    df = read_documents(spark, curated, manifest)
    label_rows = [(s, lab.bucket, lab.subdomain) for s, lab in sorted(prep.labels.items())]
    labels = spark.createDataFrame(label_rows, "source string, _label_bucket string, _label_subdomain string")
    df = df.join(F.broadcast(labels), "source", "left")
    domain = F.col("domain") if "domain" in df.columns else F.lit(None).cast("string")
    sub = F.col("subdomain") if "subdomain" in df.columns else F.lit(None).cast("string")
    df = df.withColumn("bucket", F.coalesce(domain, F.col("_label_bucket"), F.lit(UNLABELLED)))
    df = df.withColumn("subdomain", F.coalesce(sub, F.col("_label_subdomain"), F.col("bucket")))
    df = df.drop("_label_bucket", "_label_subdomain")
    fields = [f for f in df.schema.fields if f.name not in ("messages", "tools", "text")]
    schema = T.StructType(fields)
    for name, ddl in (("text", "string"), ("loss_spans", SPANS_DDL), ("n_bytes", "bigint"), ("n_tokens", "bigint"),
                      ("render_error", "string")):
        schema = schema.add(name, T._parse_datatype_string(ddl), True)
    return df.mapInArrow(PrepareBatches(prep.tokenizer, prep.bytes_per_token), schema)


_LIST_RE = re.compile(r"\bin\s*\[([^\]]*)\]", re.IGNORECASE)


def sql_filter(expr: str) -> str:
    """Python-style lists (`lang in ['en','zh']`) as SQL (`lang in ('en','zh')`)."""
    return _LIST_RE.sub(lambda m: f"in ({m.group(1)})", expr)


def apply_filter(df, expr: str | None, where: str):
    """`df` filtered by a Spark SQL expression, analysed now: a bad expression is a MixError naming the column."""
    if not expr:
        return df
    from pyspark.errors import AnalysisException, ParseException
    from pyspark.sql import functions as F

    try:
        out = df.filter(F.expr(sql_filter(expr)))
        out.schema  # forces analysis against the documents' columns
        return out
    except ParseException as e:
        raise MixError(f"{where}: filter {expr!r} is not a valid expression: {_first_line(e)}") from None
    except AnalysisException as e:
        m = re.search(r"name `([^`]+)` cannot be resolved", str(e))
        if m:
            cols = ", ".join(c for c in df.columns if c not in ("text", "loss_spans", "render_error"))
            raise MixError(f"{where}: filter {expr!r}: unknown column {m.group(1)!r} (columns: {cols})") from None
        raise MixError(f"{where}: filter {expr!r}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:300]


def eligible(df, stage: Stage, where: str):
    """The documents a stage may draw: rendered, through its filter, at least min_tokens long."""
    from pyspark.sql import functions as F

    out = apply_filter(df.where(F.col("render_error").isNull()), stage.filter, where)
    if stage.min_tokens:
        out = out.where(F.col("n_tokens") >= stage.min_tokens)
    return out


# ---- stats -------------------------------------------------------------------------------------


class StatsConfig(BaseModel):
    selections: list[str]
    preparation: Preparation


def compute_stats(spark, curated: str, recipe: Recipe | None, prep: Preparation) -> Stats:
    """Token counts per cell for every document (`*`) and for each stage's selection."""
    from pyspark.sql import functions as F

    manifest = curated_manifest(curated)
    docs = prepared_documents(spark, curated, manifest, prep)
    selections: dict[str, object] = {"*": F.col("render_error").isNull()}
    for i, stage in enumerate(recipe.stages if recipe else []):
        key = stage.selection()
        if key not in selections:
            # the predicate, analysed on the prepared schema; eligible() raises on a bad filter
            eligible(docs, stage, f"stages.{i} ({stage.name})")
            cond = F.col("render_error").isNull()
            if stage.filter:
                cond = cond & F.coalesce(F.expr(sql_filter(stage.filter)), F.lit(False))
            if stage.min_tokens:
                cond = cond & (F.col("n_tokens") >= stage.min_tokens)
            selections[key] = cond
    aggs = []
    for i, cond in enumerate(selections.values()):
        aggs += [
            F.sum(F.when(cond, 1).otherwise(0)).alias(f"d{i}"),
            F.sum(F.when(cond, F.col("n_bytes")).otherwise(0)).alias(f"b{i}"),
            F.sum(F.when(cond, F.col("n_tokens")).otherwise(0)).alias(f"t{i}"),
        ]
    rows = docs.groupBy(*CELL).agg(*aggs).orderBy(*CELL).collect()
    out: dict[str, list[Cell]] = {}
    for i, key in enumerate(selections):
        out[key] = [
            Cell(source=r.source, bucket=r.bucket, subdomain=r.subdomain, docs=r[f"d{i}"], bytes=r[f"b{i}"],
                 tokens=r[f"t{i}"])
            for r in rows if r[f"d{i}"]
        ]
    columns = [c for c in docs.columns if c not in ("render_error",)]
    return Stats(tokens="exact" if prep.tokenizer else "estimated", tokenizer=prep.tokenizer,
                 bytes_per_token=None if prep.tokenizer else prep.bytes_per_token, columns=columns, input=curated,
                 selections=out)


def run_stats(spark, curated: str, output: str, recipe: Recipe | None, prep: Preparation,
              force: bool = False) -> tuple[Stats, Manifest]:
    """`compute_stats` as a resumable step: `OUTPUT/stats.json` + `_manifest.json` (skipped when both match)."""
    from trivium.mixtures.stats import read_stats

    upstream = curated_manifest(curated)
    selections = sorted({"*"} | {s.selection() for s in (recipe.stages if recipe else [])})
    cfg = StatsConfig(selections=selections, preparation=prep)
    chash = config_hash("mix_stats", cfg, MIX_CODE_VERSION)
    inputs = [upstream.fingerprint()]
    existing = read_manifest(output)
    if (not force and existing is not None and existing.config_hash == chash and existing.inputs == inputs
            and io.exists(io.join(output, STATS_NAME))):
        existing.skipped = True
        return read_stats(io.join(output, STATS_NAME)), existing
    io.remove(io.join(output, "_manifest.json"))
    start = time.time()
    stats = compute_stats(spark, curated, recipe, prep)
    data = dumps_stats(stats).encode()
    io.write_bytes(io.join(output, STATS_NAME), data)
    manifest = Manifest(
        stage="mix_stats", config_hash=chash, inputs=inputs, docs_in=upstream.docs_out, docs_out=upstream.docs_out,
        files=[FileEntry(path=STATS_NAME, rows=sum(c.docs for c in stats.selections["*"]), bytes=len(data),
                         sha256=hashlib.sha256(data).hexdigest())],
        wall_s=round(time.time() - start, 3), text_bytes_in=upstream.text_bytes_in,
        extra={"tokens": stats.tokens, "selections": len(stats.selections),
               "unrendered": upstream.docs_out - sum(c.docs for c in stats.selections["*"])},
    )
    write_manifest(output, manifest)
    return stats, manifest


# ---- build -------------------------------------------------------------------------------------


class BuildStageConfig(BaseModel):
    stage: dict
    seed: int
    loss: str
    quotas: list[list]
    preparation: Preparation


def stage_folder(output: str, index: int, name: str) -> str:
    return io.join(output, f"{index:02d}_{name}")


FILL_PASSES = 3


def with_rest_draw(df):
    """`_draw`: 1 for the documents that make up their cell's remainder `_rest`, else 0.

    In the order of `_h`, documents that fit the gap still open are taken while their running sum
    stays within it; a few passes close what one leaves, and a last document is added when it
    brings the total nearer the target (see trivium.mixtures.sampling). Windows over the cell only."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cell = Window.partitionBy(*CELL)
    ordered = cell.orderBy("_h", "id").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    n, taken, gap = F.col("n_tokens"), F.col("_taken"), F.col("_gap")
    df = df.withColumn("_taken", F.lit(False)).withColumn("_gap", F.col("_rest"))
    for _ in range(FILL_PASSES):
        df = df.withColumn("_fits", ~taken & (n <= gap))
        df = df.withColumn("_taken", taken | (F.col("_fits") & (F.sum(F.when(F.col("_fits"), n).otherwise(0))
                                                                .over(ordered) <= gap)))
        df = df.withColumn("_gap", F.col("_rest") - F.sum(F.when(taken, n).otherwise(0)).over(cell))
    df = df.withColumn("_fits", ~taken & (n < 2 * gap))  # overshooting by less than the gap still gets closer
    first = F.col("_fits") & (F.sum(F.when(F.col("_fits"), n).otherwise(0)).over(ordered) == n)
    return df.withColumn("_draw", (taken | first).cast("int")).drop("_taken", "_gap", "_fits")


def sampled_documents(spark, docs, stage: Stage, stage_plan: StagePlan, seed: int, loss: str, where: str):
    """The stage's rows: whole epochs plus the hash-ordered remainder per cell, one row per (document, epoch)."""
    from pyspark.sql import functions as F

    qs = quotas(stage_plan)
    quota_df = spark.createDataFrame([(q.source, q.bucket, q.subdomain, q.full_epochs, float(q.remainder)) for q in qs],
                                     "source string, bucket string, subdomain string, _full int, _rest double")
    df = eligible(docs, stage, where).join(F.broadcast(quota_df), list(CELL), "inner")
    df = df.withColumn("_h", F.xxhash64(F.lit(seed), F.lit(stage.name), F.col("id")))
    df = with_rest_draw(df).withColumn("_copies", F.col("_full") + F.col("_draw"))
    df = df.where(F.col("_copies") > 0)
    df = df.withColumn("epoch", F.explode(F.sequence(F.lit(1), F.col("_copies"))))
    df = df.withColumn("id", F.when(F.col("epoch") == 1, F.col("id"))
                       .otherwise(F.concat(F.col("id"), F.lit("#e"), F.col("epoch").cast("string"))))
    if loss == "all":
        df = df.withColumn("loss_spans", F.lit(None).cast(SPANS_DDL))
    df = df.drop("_h", "_full", "_rest", "_draw", "_copies", "render_error")
    # measured tokens and rows per cell, summed by the stage runner into the manifest's `extra`
    cell = F.concat_ws("|", *CELL)
    counters = F.to_json(F.create_map(F.concat(F.lit("tokens|"), cell), F.col("n_tokens"),
                                      F.concat(F.lit("rows|"), cell), F.lit(1).cast("bigint")))
    return with_outcome(df).withColumn(COUNTERS, counters)


def measured_tokens(manifest: Manifest) -> dict[tuple[str, str, str], int]:
    """Tokens per cell a built stage holds (from its manifest's counters)."""
    return {tuple(k.split("|")[1:]): v for k, v in manifest.extra.items() if k.startswith("tokens|")}


def run_build(spark, curated: str, output: str, recipe: Recipe, the_plan: Plan, prep: Preparation,
              force: bool = False) -> list[tuple[str, Manifest]]:
    """Materialise every stage of a feasible plan; returns (stage folder, manifest) per stage."""
    if the_plan.problems:
        raise MixError("the plan is infeasible (use --solve for the nearest feasible one): " + the_plan.problems[0])
    from pyspark import StorageLevel

    upstream = curated_manifest(curated)
    # rendered and counted once for every stage (lazy: stages reused from their manifests cost nothing)
    docs = prepared_documents(spark, curated, upstream, prep).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return [_build_stage(spark, docs, upstream, output, recipe, the_plan, prep, index, force)
                for index in range(1, len(recipe.stages) + 1)]
    finally:
        docs.unpersist()


def _build_stage(spark, docs, upstream: Manifest, output: str, recipe: Recipe, the_plan: Plan, prep: Preparation,
                 index: int, force: bool) -> tuple[str, Manifest]:
    stage, sp = recipe.stages[index - 1], the_plan.stages[index - 1]
    where = f"stages.{index - 1} ({stage.name})"
    seed, loss = recipe.stage_seed(stage), recipe.stage_loss(stage)
    cfg = BuildStageConfig(stage=stage.model_dump(mode="json"), seed=seed, loss=loss, preparation=prep,
                           quotas=[[q.source, q.bucket, q.subdomain, q.full_epochs, q.remainder] for q in quotas(sp)])
    plan_extra = {"|".join(c.key): round(c.drawn, 3) for c in sp.cells if c.drawn > 0}
    folder = stage_folder(output, index, stage.name)
    manifest = run_stage(
        spark, stage=f"mix:{stage.name}", stage_dir=folder, config=cfg, inputs=[upstream.fingerprint()],
        build=lambda: sampled_documents(spark, docs, stage, sp, seed, loss, where),
        force=force,
        extra=lambda _df: {
            "seq_len": stage.seq_len, "budget": stage.budget, "recipe": recipe.name,
            "tokens": "estimated" if the_plan.estimated else "exact", "plan": plan_extra,
            "input_docs": upstream.docs_out,
        },
    )
    return folder, manifest


def write_plan(output: str, the_plan: Plan) -> str:
    url = io.join(output, "plan.json")
    io.write_bytes(url, json.dumps(the_plan.to_dict(), indent=1, sort_keys=True).encode())
    return url
