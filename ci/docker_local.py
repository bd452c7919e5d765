"""Docker builder support: the builder's early checks, and a local proof of the bake targets.

Two commands live here:

`python -m ci docker-preflight` runs inside dockerfile.builder before anything is downloaded. It
reads the build ARGs from the environment (CUDA_VERSION, PYTHON_VERSION, TORCH_CUDA_ARCH_LIST,
TORCH_INDEX_URL) and fails with the reason when they cannot work: a 7.x arch (the INT8 MMA needs
sm_80), an arch the CUDA version cannot compile, a CUDA version that is no flavor, an image whose
nvcc or Python is not the one asked for. `--print flavor|torch-index|torch-floor` answers the
questions the Dockerfile's steps ask, so the Dockerfile holds no flavor data of its own.

`python -m ci docker-local` proves dockerfile.builder and docker-bake.hcl on a machine without a
Docker engine or an image registry, with buildah (`--isolation chroot`, overlay storage):
  1. makes the base images locally: a Debian root file system (debootstrap) with its CPython for
     the runtime, plus g++ and the local CUDA toolkit copied in for the builder, laid out like
     pytorch's manylinux builder images (/usr/local/cuda, /opt/python/cpXY-cpXY);
  2. resolves the bake file's `wheel` target (variables, inherits, --set style overrides) and builds
     it with `buildah bud`, exporting the repaired wheel to a directory;
  3. checks that wheel with `python -m ci verify`;
  4. builds the `dev` and `full` targets (`full` runs the CPU tests while it builds) and runs the
     CPU tests once more in a container of the `full` image when podman can run one.
The host's pip configuration (indexes, find-links, constraints, CA bundle) is passed to the build as
the pip_conf/pip_cert secrets, and local index directories are mounted read-only, so torch comes
from wherever this machine's pip gets it. It prints a JSON report (timings, image sizes, the wheel)
on stdout and writes it to WORK/report.json; the tools' output goes to stderr.

Only the preflight half runs inside the build image: it imports the standard library and ci alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import hashlib
import json
import os
import pathlib
import platform as _platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping

from ci import archs, flavors
from ci.apt import apt_mirror
from ci.errors import CheckFailed, ConfigError, ToolError

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "dockerfile.builder"
BAKE_FILE = ROOT / "docker-bake.hcl"
# What docker-local needs from apt (each package installs the command of its name). runc: podman's
# default OCI runtime on Debian is crun, which refuses this sandbox's hybrid cgroup layout ("cgroups
# in hybrid mode not supported"); the podman run of the CPU tests asks for runc (see docker_local).
APT_PACKAGES = ("buildah", "podman", "runc", "debootstrap")
INSTALL_HINT = "apt-get update && apt-get install -y " + " ".join(APT_PACKAGES)

# ----------------------------------------------------------------------------- preflight


@dataclasses.dataclass(frozen=True)
class BuildArgs:
    cuda_version: str
    python_version: str
    arch_list: str
    torch_index_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BuildArgs:
        default = flavors.FLAVORS[flavors.DOCKER_DEFAULT_FLAVOR]
        return cls(
            cuda_version=env.get("CUDA_VERSION") or default.cuda_full,
            python_version=env.get("PYTHON_VERSION") or flavors.DEFAULT_PYTHON,
            arch_list=env.get("TORCH_CUDA_ARCH_LIST") or "",
            torch_index_url=env.get("TORCH_INDEX_URL") or "",
        )


def flavor_of(args: BuildArgs) -> flavors.Flavor:
    try:
        return flavors.flavor_for_cuda(args.cuda_version)
    except ValueError as exc:
        raise ConfigError(f"CUDA_VERSION={args.cuda_version}: {exc}") from exc


def check_args(args: BuildArgs) -> flavors.Flavor:
    """The checks that need no toolchain: flavor, Python floor, arch list against the CUDA version."""
    flavor = flavor_of(args)
    try:
        py = archs.parse_version(args.python_version)
    except ValueError as exc:
        raise ConfigError(f"PYTHON_VERSION={args.python_version!r}: {exc}") from exc
    if py < archs.parse_version(flavors.PYTHON_FLOOR):
        raise ConfigError(
            f"PYTHON_VERSION={args.python_version}: torch >= {flavors.TORCH_FLOOR} needs CPython >= "
            f"{flavors.PYTHON_FLOOR}; supported: {', '.join(flavors.PYTHON_VERSIONS)}"
        )
    arch_list = args.arch_list or flavor.arch_list_str
    try:
        archs.make_plan(arch_list, flavor.cuda)
    except archs.ArchListError as exc:
        raise ConfigError(
            f"TORCH_CUDA_ARCH_LIST={arch_list!r} with CUDA_VERSION={args.cuda_version}: {exc} "
            f"(the {flavor.name} default is {flavor.arch_list_str!r})"
        ) from exc
    return flavor


def check_toolchain(args: BuildArgs, flavor: flavors.Flavor, *, nvcc: str | None, python: str) -> None:
    """The image must carry the toolkit and interpreter the ARGs name (catches a stale base image)."""
    if nvcc is None:
        raise ConfigError(
            f"no nvcc in this image (looked at CUDA_HOME, PATH and /usr/local/cuda); the builder base "
            f"must carry CUDA {flavor.cuda} for CUDA_VERSION={args.cuda_version}"
        )
    if archs.parse_version(nvcc) != archs.parse_version(flavor.cuda):
        raise ConfigError(
            f"CUDA_VERSION={args.cuda_version} but this image's nvcc is {nvcc}: the base image does not "
            f"match the requested CUDA; let the Dockerfile derive it (unset BUILDER_IMAGE_*) or pass "
            f"CUDA_VERSION={nvcc}.x"
        )
    if archs.parse_version(python) != archs.parse_version(args.python_version):
        raise ConfigError(f"PYTHON_VERSION={args.python_version} but the build venv runs CPython {python}")


def torch_index(args: BuildArgs, flavor: flavors.Flavor) -> str:
    return args.torch_index_url or flavor.torch_index


def _image_nvcc(env: Mapping[str, str]) -> str | None:
    from ci.build import detect_cuda_home, nvcc_version

    home = detect_cuda_home(dict(env))
    return nvcc_version(home) if home is not None else None


def preflight_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ci docker-preflight",
        description="Early checks of dockerfile.builder's ARGs (read from the environment).",
    )
    p.add_argument("--print", dest="what", choices=("flavor", "torch-index", "torch-floor"),
                   help="print one derived value instead of running the checks")
    opts = p.parse_args(argv)
    args = BuildArgs.from_env(os.environ)
    if opts.what == "torch-floor":
        print(flavors.TORCH_FLOOR)
        return 0
    flavor = flavor_of(args) if opts.what else check_args(args)
    if opts.what == "flavor":
        print(flavor.name)
        return 0
    if opts.what == "torch-index":
        print(torch_index(args, flavor))
        return 0
    python = ".".join(str(v) for v in sys.version_info[:2])
    check_toolchain(args, flavor, nvcc=_image_nvcc(os.environ), python=python)
    print(f"preflight ok: flavor {flavor.name} (CUDA {args.cuda_version}), CPython {python}, "
          f"archs {args.arch_list or flavor.arch_list_str}, torch >= {flavors.TORCH_FLOOR} "
          f"from {torch_index(args, flavor)}")
    return 0


# ----------------------------------------------------------------------------- Dockerfile model

_CONT_RE = re.compile(r"\\[ \t]*$")


@dataclasses.dataclass
class Instruction:
    keyword: str  # upper case
    value: str  # the rest of the logical line, continuations joined
    line: int  # first physical line (1-based)
    comments: list[str] = dataclasses.field(default_factory=list)  # comment lines just above it


@dataclasses.dataclass
class Stage:
    name: str | None
    base: str  # the FROM operand, unexpanded
    index: int
    args: dict[str, str | None] = dataclasses.field(default_factory=dict)  # ARGs declared in the stage
    instructions: list[Instruction] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Dockerfile:
    global_args: dict[str, str | None]  # name -> default (None: declared without one)
    stages: list[Stage]
    instructions: list[Instruction]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; stages: {[s.name for s in self.stages]}")

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]


def parse_instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments kept apart, backslash continuations joined."""
    out: list[Instruction] = []
    comments: list[str] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf:
            if not stripped:
                comments = []
                continue
            if stripped.startswith("#"):
                comments.append(stripped.lstrip("#").strip())
                continue
            start = n
        elif stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped, as Docker does
        if _CONT_RE.search(raw):
            buf.append(_CONT_RE.sub("", raw).strip())
            continue
        buf.append(stripped)
        line = " ".join(b for b in buf if b)
        keyword, _, value = line.partition(" ")
        out.append(Instruction(keyword.upper(), value.strip(), start, comments))
        buf, comments = [], []
    if buf:
        raise ConfigError(f"Dockerfile ends inside a continued instruction (line {start})")
    return out


def _split_arg(value: str) -> tuple[str, str | None]:
    name, eq, default = value.partition("=")
    if not eq:
        return name.strip(), None
    default = default.strip()
    if len(default) >= 2 and default[0] == default[-1] and default[0] in "\"'":
        default = default[1:-1]
    return name.strip(), default


def parse_dockerfile(text: str) -> Dockerfile:
    instructions = parse_instructions(text)
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            m = re.match(r"^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", ins.value, re.IGNORECASE)
            if not m:
                raise ConfigError(f"line {ins.line}: cannot read FROM {ins.value!r}")
            stages.append(Stage(name=m.group(2), base=m.group(1), index=len(stages)))
        elif ins.keyword == "ARG":
            name, default = _split_arg(ins.value)
            if stages:
                stages[-1].args[name] = default
            else:
                global_args[name] = default
        if stages and ins.keyword != "FROM":
            stages[-1].instructions.append(ins)
    return Dockerfile(global_args, stages, instructions)


_VAR_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:-|:\+|%%|%|##|#)?(?P<word>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def _trim(value: str, op: str, pattern: str) -> str:
    """Shell-style prefix/suffix removal (%, %%, #, ##) with glob patterns."""
    n = len(value)
    if op in ("%", "%%"):
        cuts = range(n, -1, -1) if op == "%" else range(n + 1)
        for i in cuts:
            if fnmatch.fnmatchcase(value[i:], pattern):
                return value[:i]
    else:
        cuts = range(n + 1) if op == "#" else range(n, -1, -1)
        for i in cuts:
            if fnmatch.fnmatchcase(value[:i], pattern):
                return value[i:]
    return value


def expand(word: str, env: Mapping[str, str | None]) -> str:
    """Dockerfile variable expansion of one word: $X, ${X}, ${X:-w}, ${X:+w}, ${X%p}, ${X%%p}, ${X#p}, ${X##p}."""

    def sub(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("bare")
        value = env.get(name)
        op, arg = m.group("op"), m.group("word")
        if op == ":-":
            return value if value else expand(arg, env)
        if op == ":+":
            return expand(arg, env) if value else ""
        if op:
            return _trim(value or "", op, expand(arg, env))
        if arg:
            raise ConfigError(f"unsupported expansion ${{{name}{arg}}}")
        return value or ""

    return _VAR_RE.sub(sub, word)


def resolve_global_args(df: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """Global ARG values as the builder sees them: --build-arg wins, else the default, expanded in order."""
    env: dict[str, str] = {}
    for name, default in df.global_args.items():
        if name in build_args:
            env[name] = build_args[name]
        elif default is not None:
            env[name] = expand(default, env)
        else:
            env[name] = ""
    return env


def base_image(df: Dockerfile, stage_name: str, build_args: Mapping[str, str]) -> str:
    """The image a stage starts from, following FROM <other stage> to its external base."""
    env = resolve_global_args(df, build_args)
    names = {s.name: s for s in df.stages if s.name}
    ref = expand(df.stage(stage_name).base, env)
    seen = set()
    while ref in names and ref not in seen:
        seen.add(ref)
        ref = expand(names[ref].base, env)
    return ref


def referenced_args(ins: Instruction) -> set[str]:
    return {m.group("braced") or m.group("bare") for m in _VAR_RE.finditer(ins.value)}


def render_for_buildah(text: str, build_args: Mapping[str, str]) -> str:
    """buildah 1.28 cannot parse ${X%p}-style defaults (Dockerfile 1.7 syntax) even when overridden:
    write those global defaults out as the values BuildKit would compute."""
    df = parse_dockerfile(text)
    env = resolve_global_args(df, build_args)
    lines = text.splitlines(keepends=True)
    for ins in df.instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword != "ARG":
            continue
        name, default = _split_arg(ins.value)
        if default is not None and re.search(r"\$\{[A-Za-z_][A-Za-z0-9_]*(%|#)", default):
            lines[ins.line - 1] = f"ARG {name}={env[name]}\n"
    return "".join(lines)


# ----------------------------------------------------------------------------- bake model


def _unquote(v: object) -> object:
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    if isinstance(v, list):
        return [_unquote(x) for x in v]
    if isinstance(v, dict):
        return {str(_unquote(k)): _unquote(x) for k, x in v.items() if k != "__is_block__"}
    return v


def _blocks(doc: dict, kind: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in doc.get(kind, []):
        for name, body in block.items():
            out[str(_unquote(name))] = _unquote(body)
    return out


_INTERP_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Scalar keys buildx's `--set` accepts (lists and maps are handled apart); `platforms` is not one.
_SET_KEYS = ("context", "dockerfile", "target", "call", "no-cache", "pull", "network", "shm-size")
# Attributes whose maps bake merges key by key across inherits; every other attribute is replaced.
_MERGED = ("args", "labels", "annotations", "contexts", "secret")


@dataclasses.dataclass
class Bake:
    variables: dict[str, str]  # name -> default
    groups: dict[str, list[str]]
    raw_targets: dict[str, dict]

    def values(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Variable values: an environment variable of the same name overrides the default, as in bake."""
        env = {} if env is None else env
        return {k: env.get(k, v) for k, v in self.variables.items()}

    def _interp(self, value: object, values: Mapping[str, str]) -> object:
        if isinstance(value, str):
            def sub(m: re.Match[str]) -> str:
                if m.group(1) not in values:
                    raise ConfigError(f"docker-bake.hcl uses ${{{m.group(1)}}}, which is no variable")
                return values[m.group(1)]
            if "${" in _INTERP_RE.sub("", value):
                raise ConfigError(f"docker-bake.hcl: expression {value!r} is beyond this resolver "
                                  f"(plain ${{VAR}} interpolation only)")
            return _INTERP_RE.sub(sub, value)
        if isinstance(value, list):
            return [self._interp(v, values) for v in value]
        if isinstance(value, dict):
            return {k: self._interp(v, values) for k, v in value.items()}
        return value

    def target(self, name: str, env: Mapping[str, str] | None = None,
               overrides: list[str] | tuple[str, ...] = ()) -> dict:
        """A target as bake resolves it: inherits merged in order, variables interpolated,
        then `--set` style overrides (`*.args.X=v`, `wheel.platform=linux/arm64`) applied."""
        values = self.values(env)
        resolved = self._resolve(name, values, ())
        for spec in overrides:
            key, eq, value = spec.partition("=")
            if not eq:
                raise ConfigError(f"--set {spec!r}: expected TARGET.KEY=VALUE")
            pattern, _, attr = key.partition(".")
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            if "." in attr:
                top, _, sub = attr.partition(".")
                resolved.setdefault(top, {})[sub] = value
            elif attr == "platform":  # buildx's --set key; the HCL attribute is `platforms`
                resolved["platforms"] = [v for v in value.split(",") if v]
            elif attr in ("tags", "output", "cache-from", "cache-to", "secrets"):
                resolved["secret" if attr == "secrets" else attr] = [value]
            elif attr in _SET_KEYS:
                resolved[attr] = value
            else:
                hint = " (buildx calls it `platform`)" if attr == "platforms" else ""
                raise ConfigError(f"--set {spec!r}: unknown key {attr!r}{hint}, as buildx would say")
        return resolved

    def _resolve(self, name: str, values: Mapping[str, str], chain: tuple[str, ...]) -> dict:
        if name in chain:
            raise ConfigError(f"docker-bake.hcl: inherits cycle {' -> '.join((*chain, name))}")
        if name not in self.raw_targets:
            raise ConfigError(f"docker-bake.hcl has no target {name!r}")
        body = self.raw_targets[name]
        merged: dict = {}
        for parent in body.get("inherits", []):
            for k, v in self._resolve(parent, values, (*chain, name)).items():
                if k in _MERGED and isinstance(v, dict):
                    merged.setdefault(k, {}).update(v)
                else:
                    merged[k] = v
        for k, v in self._interp(body, values).items():
            if k == "inherits":
                continue
            if k in _MERGED and isinstance(v, dict):
                merged.setdefault(k, {}).update(v)
            else:
                merged[k] = v
        return merged

    def group(self, name: str) -> list[str]:
        if name not in self.groups:
            raise ConfigError(f"docker-bake.hcl has no group {name!r}")
        return self.groups[name]


def load_bake(path: pathlib.Path = BAKE_FILE) -> Bake:
    try:
        import hcl2
    except ImportError as exc:
        raise ToolError("reading docker-bake.hcl needs python-hcl2: pip install python-hcl2") from exc
    doc = hcl2.loads(path.read_text())
    variables = {k: str(v.get("default", "")) for k, v in _blocks(doc, "variable").items()}
    groups = {k: list(v.get("targets", [])) for k, v in _blocks(doc, "group").items()}
    return Bake(variables, groups, _blocks(doc, "target"))


# ----------------------------------------------------------------------------- local proof


_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[docker-local {time.monotonic() - _T0:6.0f}s] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], *, capture: bool = False, env: Mapping[str, str] | None = None,
         what: str | None = None) -> subprocess.CompletedProcess[str]:
    log("$ " + shlex.join(cmd))
    try:
        # Tool output goes to stderr, so stdout carries only docker-local's JSON report.
        streams = {"capture_output": True} if capture else {"stdout": sys.stderr}
        sys.stderr.flush()
        proc = subprocess.run(cmd, text=True, env=None if env is None else dict(env), check=False, **streams)
    except FileNotFoundError as exc:
        raise ToolError(f"{what or cmd[0]}: not installed ({exc.filename}); {INSTALL_HINT}") from exc
    if proc.returncode != 0:
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-30:]) if capture else ""
        raise ToolError(f"{what or cmd[0]} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}".rstrip())
    return proc


class Buildah:
    """buildah with a private overlay store, so nothing here touches other users' images."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.opts = ["--root", str(root / "storage"), "--runroot", str(root / "run"), "--storage-driver", "overlay"]

    def __call__(self, *args: str, capture: bool = False, what: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(["buildah", *self.opts, *args], capture=capture, what=what or f"buildah {args[0]}")

    def has_image(self, ref: str) -> bool:
        proc = subprocess.run(["buildah", *self.opts, "images", "-q", ref], capture_output=True, text=True, check=False)
        return proc.returncode == 0 and bool(proc.stdout.strip())

    def image_size(self, ref: str) -> str:
        """The store's size of an image, as buildah prints it ("5.1 GB")."""
        return self("images", "--format", "{{.Size}}", ref, capture=True).stdout.strip()

    def prune_untagged(self) -> None:
        """Drop the images no tag names any more (earlier builds' layers). Each build of a new source
        state adds a few GB to this private store; tagged images (the bases, the last targets) and
        the layers they share stay, so the next build still hits the cache."""
        self("rmi", "--prune", capture=True)

    def label(self, ref: str, key: str) -> str | None:
        info = json.loads(self("inspect", "--type", "image", ref, capture=True).stdout)
        return ((info.get("OCIv1") or {}).get("config") or {}).get("Labels", {}).get(key)


@dataclasses.dataclass
class PipSetup:
    conf: str  # pip.conf text for the pip_conf secret
    volumes: list[str]  # buildah -v specs for the local paths it references
    index_url: str  # the index torch should come from here (TORCH_INDEX_URL)


def host_pip_setup(cert_path: str | None) -> PipSetup:
    """Carry this machine's pip configuration into the build: local indexes and files get mounted."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                         check=False).stdout
    conf: dict[str, str] = {}
    for ln in out.splitlines():
        key, eq, value = ln.partition("=")
        if not eq:
            continue
        name = key.split(".", 1)[-1]
        conf[name] = value.strip().strip("'\"")
    for name in ("index-url", "extra-index-url", "find-links", "constraint"):
        env_value = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        if env_value:
            conf[name] = env_value
    mounts: set[str] = set()

    def local(path_or_url: str) -> None:
        path = path_or_url.removeprefix("file://")
        if not path.startswith("/") or not os.path.exists(path):
            return
        p = pathlib.Path(path)
        # A PEP 503 tree links its files as ../../files/…: mount the folder above a `simple/` root.
        mounts.add(str(p.parent if p.name == "simple" else p))

    lines = ["[global]", "disable-pip-version-check = true", "root-user-action = ignore"]
    for name in ("extra-index-url", "find-links", "constraint"):
        if conf.get(name):
            for item in conf[name].split():
                local(item)
            lines.append(f"{name} = {conf[name]}")
    if conf.get("index-url"):
        local(conf["index-url"])
    if cert_path:
        lines.append("cert = /run/secrets/pip_cert")
    index = conf.get("index-url") or _pip_default_index()
    return PipSetup("\n".join(lines) + "\n", [f"{m}:{m}:ro" for m in sorted(mounts)], index)


def _pip_default_index() -> str:
    try:
        from pip._internal.models.index import PyPI  # the index pip uses when none is configured
    except ImportError as exc:
        raise ConfigError("cannot tell pip's default index; set PIP_INDEX_URL") from exc
    return PyPI.simple_url


def host_ca_bundle() -> str | None:
    for var in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if os.environ.get(var) and os.path.isfile(os.environ[var]):
            return os.environ[var]
    default = "/etc/ssl/certs/ca-certificates.crt"
    return default if os.path.isfile(default) else None


def local_cuda() -> tuple[pathlib.Path, str]:
    from ci.build import detect_cuda_home, nvcc_version

    home = detect_cuda_home(dict(os.environ))
    if home is None:
        raise ConfigError("no local CUDA toolkit (CUDA_HOME, nvcc on PATH or /usr/local/cuda) to put in the base image")
    return pathlib.Path(os.path.realpath(home)), nvcc_version(home)


PYTHON_LABEL = "org.sageattention.local.python"


@dataclasses.dataclass
class LocalBases:
    runtime: str
    builder: str
    python: str  # major.minor of the base's CPython


def make_bases(b: Buildah, work: pathlib.Path, *, cuda_home: pathlib.Path, cuda: str,
               mirror: str, suite: str, rebuild: bool, timings: dict[str, float]) -> LocalBases:
    runtime = f"localhost/sageattention-local-runtime:{suite}"
    builder = f"localhost/sageattention-local-builder:{suite}-cuda{cuda}"
    if rebuild or not b.has_image(runtime):
        t0 = time.monotonic()
        rootfs = work / f"rootfs-{suite}"
        if rootfs.exists():
            shutil.rmtree(rootfs)
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
              suite, str(rootfs), mirror], what="debootstrap", capture=True)
        python = _run(["chroot", str(rootfs), "/usr/bin/python3", "-c",
                       "import sys; print('%d.%d' % sys.version_info[:2])"], capture=True).stdout.strip()
        ctr = b("from", "scratch", capture=True).stdout.strip()
        mnt = b("mount", ctr, capture=True).stdout.strip()
        _run(["cp", "-a", f"{rootfs}/.", mnt], what="copy rootfs")
        b("umount", ctr)
        b("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "--cmd", "/bin/bash", "--label", f"{PYTHON_LABEL}={python}", ctr)
        b("commit", "-q", "--rm", ctr, runtime)
        shutil.rmtree(rootfs)
        timings["base_runtime_s"] = time.monotonic() - t0
    python = b.label(runtime, PYTHON_LABEL) or ""
    if not re.match(r"^3\.\d+$", python):
        raise ConfigError(f"{runtime} has no {PYTHON_LABEL} label; rerun with --rebuild-base")
    if rebuild or not b.has_image(builder):
        t0 = time.monotonic()
        ctr = b("from", runtime, capture=True).stdout.strip()
        b("run", "--isolation", "chroot", ctr, "--", "sh", "-c",
          "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
          "g++ make python3-dev && rm -rf /var/lib/apt/lists/*", what="apt-get in the builder base")
        mnt = b("mount", ctr, capture=True).stdout.strip()
        dest = pathlib.Path(mnt) / "usr/local" / f"cuda-{cuda}"
        _run(["cp", "-a", f"{cuda_home}/.", str(dest)], what="copy the CUDA toolkit")
        (pathlib.Path(mnt) / "usr/local/cuda").symlink_to(f"cuda-{cuda}")
        tag = "cp" + python.replace(".", "")
        pydir = pathlib.Path(mnt) / "opt/python" / f"{tag}-{tag}" / "bin"
        pydir.mkdir(parents=True)
        (pydir / "python").symlink_to(f"/usr/bin/python{python}")
        b("umount", ctr)
        b("commit", "-q", "--rm", ctr, builder)
        timings["base_builder_s"] = time.monotonic() - t0
    return LocalBases(runtime, builder, python)


def _modest_ulimits() -> list[str]:
    """runc cannot raise a container's nofile/nproc above this sandbox's hard limits (podman asks
    for more by default and fails with 'error setting rlimit'): ask for a modest value instead."""
    import resource

    out = []
    for name, res in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(res)[1]
        value = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
        out += ["--ulimit", f"{name}={value}:{value}"]
    return out


def tree_digest(root: pathlib.Path) -> str:
    """sha256 over every file's path (relative to root) and bytes, in path order: it changes exactly
    when the build context does, so the test stage's cache key follows the wheel it installs."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def bud_command(b: Buildah, target: dict, *, dockerfile: pathlib.Path, extra_args: Mapping[str, str],
                secrets: Mapping[str, str], volumes: list[str], tag: str | None,
                output: str | None, context: pathlib.Path = ROOT) -> list[str]:
    cmd = ["buildah", *b.opts, "bud", "--isolation", "chroot", "--layers", "--force-rm", "-f", str(dockerfile),
           "--target", target["target"]]
    platforms = target.get("platforms") or []
    if len(platforms) > 1:
        raise ConfigError(f"one platform at a time here, got {platforms}")
    if platforms:
        cmd += ["--platform", platforms[0]]
    for k, v in {**target.get("args", {}), **extra_args}.items():
        cmd += ["--build-arg", f"{k}={v}"]
    for sid, src in secrets.items():
        cmd += ["--secret", f"id={sid},src={src}"]
    for vol in volumes:
        cmd += ["-v", vol]
    if tag:
        cmd += ["-t", tag]
    if output:
        cmd += ["-o", output]
    cmd.append(str(context / target.get("context", ".")))
    return cmd


def docker_local(opts: argparse.Namespace) -> dict:
    for tool in ("buildah", "debootstrap"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} is not installed: {INSTALL_HINT}")
    work = opts.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    b = Buildah(work)
    timings: dict[str, float] = {}
    t_all = time.monotonic()
    cuda_home, cuda = local_cuda()
    flavor = flavors.flavor_for_cuda(cuda)
    mirror, suite = (opts.mirror, opts.suite) if opts.mirror else apt_mirror()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(_platform.machine(), _platform.machine())
    b.prune_untagged()
    bases = make_bases(b, work, cuda_home=cuda_home, cuda=cuda, mirror=mirror, suite=suite,
                       rebuild=opts.rebuild_base, timings=timings)
    sizes: dict[str, str] = {"base_runtime": b.image_size(bases.runtime), "base_builder": b.image_size(bases.builder)}

    cert = host_ca_bundle()
    pip = host_pip_setup(cert)
    conf_path = work / "pip.conf"
    conf_path.write_text(pip.conf)
    secrets = {"pip_conf": str(conf_path)}
    if cert:
        secrets["pip_cert"] = cert

    bake = load_bake()
    overrides = [f"*.args.CUDA_VERSION={flavor.cuda_full}", f"*.args.PYTHON_VERSION={bases.python}",
                 f"*.platform=linux/{arch}"]
    if opts.arch_list:
        overrides.append(f"*.args.TORCH_CUDA_ARCH_LIST={opts.arch_list}")
    elif flavor.name != flavors.DOCKER_DEFAULT_FLAVOR:
        overrides.append(f"*.args.TORCH_CUDA_ARCH_LIST={flavor.arch_list_str}")
    overrides += opts.set or []
    # What the bake file cannot know here: local base images, torch from this machine's pip, and a
    # repair tag for the Debian base's glibc (newer than the manylinux_2_28 builders').
    extra = {
        "BUILDER_IMAGE_AMD64": bases.builder, "BUILDER_IMAGE_ARM64": bases.builder,
        "RUNTIME_IMAGE": bases.runtime, "TARGETARCH": arch,
        "TORCH_INDEX_URL": pip.index_url, "AUDITWHEEL_PLAT": "auto",
    }
    resolved = {name: bake.target(name, os.environ, overrides) for name in ("wheel", "dev", "full")}
    all_args = {**resolved["wheel"].get("args", {}), **extra}
    rendered = work / "dockerfile.builder"
    rendered.write_text(render_for_buildah(DOCKERFILE.read_text(), all_args))

    # Build from a snapshot of the work tree (tracked and untracked-but-not-ignored files), so the
    # three targets see the same sources even while someone edits the checkout.
    from ci.build import stage_source

    context = work / "context"
    if context.exists():
        shutil.rmtree(context)
    context.mkdir()
    if opts.ref:
        archive = subprocess.run(["git", "archive", "--format=tar", opts.ref], cwd=ROOT, capture_output=True,
                                 check=False)
        if archive.returncode != 0:
            raise ConfigError(f"git archive {opts.ref}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(context)], input=archive.stdout, check=True)
    else:
        stage_source(context, ROOT)
    report_context = opts.ref or "work tree"
    extra["SAGEATTENTION_SOURCE_DIGEST"] = tree_digest(context)

    out_dir = (opts.out or work / "dist").resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    report: dict = {"flavor": flavor.name, "cuda": cuda, "python": bases.python,
                    "arch_list": resolved["wheel"]["args"].get("TORCH_CUDA_ARCH_LIST"),
                    "bake_overrides": overrides, "cpus": os.cpu_count(), "context": report_context}

    def bud(name: str, tag: str | None, output: str | None) -> None:
        t0 = time.monotonic()
        _run(bud_command(b, resolved[name], dockerfile=rendered, extra_args=extra, secrets=secrets,
                         volumes=pip.volumes, tag=tag, output=output, context=context),
             what=f"buildah bud ({name})")
        if tag and resolved[name].get("labels"):
            # Set after the build: buildah's --label enters every layer's cache key, so the three
            # targets would stop sharing the builder stage's layers.
            ctr = b("from", tag, capture=True).stdout.strip()
            b("config", *[f"--label={k}={v}" for k, v in resolved[name]["labels"].items()], ctr)
            b("commit", "-q", "--rm", ctr, tag)
        timings[f"bud_{name}_s"] = time.monotonic() - t0

    try:
        bud("wheel", None, f"type=local,dest={out_dir}")
        wheels = sorted(out_dir.glob("*.whl"))
        stray = sorted(p.name for p in out_dir.iterdir() if p.suffix != ".whl")
        if len(wheels) != 1 or stray:
            raise CheckFailed(f"the wheel target must export exactly one wheel and nothing else; got "
                              f"{[w.name for w in wheels]} and {stray}")
        wheel = wheels[0]
        report["wheel"] = wheel.name
        report["wheel_bytes"] = wheel.stat().st_size

        from ci.build import parse_wheel_name

        t0 = time.monotonic()
        verify = [sys.executable, "-m", "ci", "verify", str(wheel), "--flavor", flavor.name,
                  "--plat", parse_wheel_name(wheel.name)["plat"], "--arch-list", report["arch_list"],
                  "--json", str(work / "verify.json")]
        _run(verify, what="python -m ci verify")
        timings["verify_s"] = time.monotonic() - t0

        if not opts.wheel_only:
            bud("dev", "localhost/sageattention:dev", None)
            bud("full", "localhost/sageattention:latest", None)
            for ref in ("localhost/sageattention:dev", "localhost/sageattention:latest"):
                sizes[ref.split(":")[-1]] = b.image_size(ref)
            if opts.run and shutil.which("podman"):
                t0 = time.monotonic()
                runtime = ["--runtime", "runc"] if shutil.which("runc") else []  # see APT_PACKAGES
                _run(["podman", *b.opts, *runtime, "run", "--rm", "--network", "none", *_modest_ulimits(),
                      "localhost/sageattention:latest", "python", "-m", "pytest", "-p", "no:cacheprovider",
                      "-q", "-m", "not gpu", "tests/cpu"], what="podman run (CPU tests)")
                timings["podman_run_s"] = time.monotonic() - t0
    except Exception as exc:
        report["error"] = str(exc).splitlines()[0]
        raise
    finally:
        timings["total_s"] = time.monotonic() - t_all
        report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
        report["image_bytes"] = sizes
        (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci docker-local", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/var/tmp/sageattention-docker-local"),
                   help="buildah storage, base root file systems and the report (default: %(default)s)")
    p.add_argument("--out", type=pathlib.Path, help="where the wheel target exports (default: WORK/dist)")
    p.add_argument("--arch-list", help="TORCH_CUDA_ARCH_LIST for a quicker proof (default: the flavor's)")
    p.add_argument("--set", action="append", metavar="TARGET.KEY=VALUE",
                   help="bake-style override, e.g. '*.args.MAX_JOBS=2' (repeatable)")
    p.add_argument("--ref", help="build this git commit (git archive) instead of the work tree's files")
    p.add_argument("--wheel-only", action="store_true", help="stop after the wheel target and verify")
    p.add_argument("--no-run", dest="run", action="store_false",
                   help="do not start a container of the full image afterwards")
    p.add_argument("--rebuild-base", action="store_true", help="remake the local base images")
    p.add_argument("--mirror", help="Debian mirror for debootstrap (default: this machine's apt source)")
    p.add_argument("--suite", default="bookworm", help="Debian suite with --mirror (default: %(default)s)")
    opts = p.parse_args(argv)
    report = docker_local(opts)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
