# Acquisition: the official archives and pretrained weights (issue 2, "The real data sets").
# Each file comes from its config source (`path` if that file exists, else `url`), is verified
# against its md5/sha256 and, for the data sets, unpacked into the raw layout the data stage reads.
# Which archive holds what, and the --strip/--expect that follow, live in cycleaug/acquire/sources.py
# (SOURCES[name]: .archive, .path(data_dir), .outputs(data_dir)); options: cycleaug/glue/acquire.py.
# On a cluster these run as jobs (ABCI's compute nodes reach http/https, and its login nodes end heavy
# work); where compute nodes have no internet, run `snakemake fetch_bdd100k_images ...` locally first.
from cycleaug.glue import acquire as glue
from cycleaug.acquire.sources import all_sources

SOURCES = all_sources(config)
DATA_DIR = config["data_dir"]


if config["data"]["source"] == "real":

    rule fetch_bdd100k_images:
        output:
            directory(SOURCES["bdd100k_images"].path(DATA_DIR)),
        log:
            "logs/acquire/bdd100k_images.log",
        benchmark:
            "benchmarks/acquire/bdd100k_images.tsv"
        params:
            fetch=glue.fetch_options(SOURCES["bdd100k_images"]),
            archive=SOURCES["bdd100k_images"].archive,
            layout=glue.layout_options(SOURCES["bdd100k_images"]),
        shell:
            "cycleaug fetch {params.fetch} --out {params.archive:q} "
            "--extract-to {output:q} {params.layout} > {log:q} 2>&1"

    # Outputs are the label files themselves (legacy or det_20, per data.bdd100k.label_format);
    # the archive unpacks into their folder.
    rule fetch_bdd100k_labels:
        output:
            train=SOURCES["bdd100k_labels"].outputs(DATA_DIR)[0],
            val=SOURCES["bdd100k_labels"].outputs(DATA_DIR)[1],
        log:
            "logs/acquire/bdd100k_labels.log",
        params:
            fetch=glue.fetch_options(SOURCES["bdd100k_labels"]),
            archive=SOURCES["bdd100k_labels"].archive,
            layout=glue.layout_options(SOURCES["bdd100k_labels"]),
        shell:
            "cycleaug fetch {params.fetch} --out {params.archive:q} "
            '--extract-to "$(dirname {output.train:q})" {params.layout} > {log:q} 2>&1'

    rule fetch_synthia:
        output:
            directory(SOURCES["synthia"].path(DATA_DIR)),
        log:
            "logs/acquire/synthia.log",
        benchmark:
            "benchmarks/acquire/synthia.tsv"
        params:
            fetch=glue.fetch_options(SOURCES["synthia"]),
            archive=SOURCES["synthia"].archive,
            layout=glue.layout_options(SOURCES["synthia"]),
        shell:
            "cycleaug fetch {params.fetch} --out {params.archive:q} "
            "--extract-to {output:q} {params.layout} > {log:q} 2>&1"


# Weights: the configured path is used (verified, then hard-linked) when that file exists, else
# the URL is downloaded; rules read the verified copy under {data_dir}/pretrained/.
if "darknet53" in SOURCES:

    rule fetch_darknet53:
        output:
            SOURCES["darknet53"].path(DATA_DIR),
        log:
            "logs/acquire/darknet53.log",
        params:
            fetch=glue.fetch_options(SOURCES["darknet53"]),
        shell:
            "cycleaug fetch {params.fetch} --out {output:q} > {log:q} 2>&1"


if "inception" in SOURCES:

    rule fetch_inception:
        output:
            SOURCES["inception"].path(DATA_DIR),
        log:
            "logs/acquire/inception.log",
        params:
            fetch=glue.fetch_options(SOURCES["inception"]),
        shell:
            "cycleaug fetch {params.fetch} --out {output:q} > {log:q} 2>&1"
