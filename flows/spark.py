"""SparkSession factory: embedded `local[*]` by default, any master URL by option or config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from pydantic import BaseModel, Field, field_serializer, field_validator

MIN_JAVA = 17
# local, local[4], local[*], local[4,2] (with task retries), or a cluster manager's URL
SECRET_KEY = re.compile(r"secret|password|token|credential|access\.?key", re.IGNORECASE)
MASTER_PATTERN = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|(spark|k8s|mesos)://\S+|yarn")


class SparkConfig(BaseModel):
    master: str = Field("local[*]", description="Spark master URL: local[*], spark://host:7077, k8s://..., yarn")
    app_name: str = "trivium"
    partitions: int = Field(8, ge=1, description="shuffle partitions = output files per stage")
    driver_memory: str = Field("4g", description="JVM heap of the driver, e.g. 4g")
    arrow_batch_rows: int = Field(2000, ge=1, description="documents per Arrow batch sent to Python")
    conf: dict[str, str] = Field(default_factory=dict, description="extra spark.* settings")

    @field_serializer("conf", when_used="json")
    def _mask_secrets(self, conf: dict[str, str]) -> dict[str, str]:
        """Stored or shown (Prefect parameters, `config show`), a credential in spark.* reads '**********'."""
        return {k: "**********" if SECRET_KEY.search(k) else v for k, v in conf.items()}

    @field_validator("master")
    @classmethod
    def _master_url(cls, value: str) -> str:
        if not MASTER_PATTERN.fullmatch(value):
            raise ValueError(f"not a Spark master URL: {value!r} (local[*], local[4], spark://host:7077, k8s://..., yarn)")
        return value

    @field_validator("driver_memory")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if not re.fullmatch(r"\d+[kmgtKMGT]?", value):
            raise ValueError(f"not a JVM memory size: {value!r} (e.g. 512m, 4g)")
        return value


class JavaMissing(RuntimeError):
    pass


def check_java() -> str:
    """Spark needs Java 17+; say so plainly instead of letting py4j fail with a gateway error."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise JavaMissing(
            f"Spark needs Java {MIN_JAVA}+ and none was found (no `java` on PATH, JAVA_HOME unset). "
            "Install it, e.g. `apt-get install openjdk-17-jre-headless`."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(m.group(1)) if m else 0
    if major == 1 and m and m.group(2):  # "1.8.0" style
        major = int(m.group(2))
    if major < MIN_JAVA:
        raise JavaMissing(f"Spark needs Java {MIN_JAVA}+, found {out.splitlines()[0] if out else java!r}")
    return java


def get_spark(config: SparkConfig | None = None):
    """Return the process's SparkSession, creating it on first use (getOrCreate)."""
    from pyspark.sql import SparkSession

    config = config or SparkConfig()
    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.shuffle.partitions", str(config.partitions))
        return active
    check_java()
    # Workers must run this interpreter, where trivium and its dependencies live.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if config.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", str(config.partitions))
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(config.arrow_batch_rows))
        .config("spark.python.worker.reuse", "true")
        # pyspark's daemon, without zip archives that re-read their directory on every task (see the module)
        .config("spark.python.daemon.module", "trivium.flows.spark_daemon")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # AQE may coalesce shuffle partitions differently run to run; output files must not change.
        .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
    )
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def rows_frame(spark, table, partitions: int):
    """`table` (pyarrow) as a DataFrame of `partitions` partitions, rows in order, split as `spark.range`
    splits (with as many partitions as rows, partition k holds row k alone). Built in the JVM: a parallelized
    Python list starts a Python worker in every task only to unpickle its rows (~0.4 s a task, measured)."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    n = table.num_rows
    rows = spark.createDataFrame(table.append_column("_row", pa.array(range(n), pa.int64())))
    index = spark.range(n, numPartitions=partitions)
    return index.join(F.broadcast(rows), index["id"] == rows["_row"]).drop("id", "_row")


def paths_frame(spark, urls: list[str]):
    """A `path` DataFrame with one URL per partition, partition k holding urls[k] (task k reads file k)."""
    import pyarrow as pa

    return rows_frame(spark, pa.table({"path": pa.array(urls, pa.string())}), len(urls))
