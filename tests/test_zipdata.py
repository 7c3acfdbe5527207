"""facegen/zipdata.py: the dataset zip or folder as published. A file that is not a zip, a truncated
zip, a zip or folder without images, and macOS junk, each answered in one clear line (FacegenError,
naming the file and what to do), the bad file left as it was."""
from __future__ import annotations

import pytest

import helpers
from helpers import FacegenError
from tests.builders import good_zip, image_bytes, one_line, write_zip


# --- A file that is not a zip -----------------------------------------------------------------------

@pytest.mark.parametrize("content, needles", [
    (b"these are my faces, honest\n", ["not a zip", "FACEGEN_DATA"]),
    (b"", ["empty", "again"]),
    (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n",
     ["web page", "download", "again"]),
    (b"  <html><body>Access denied</body></html>", ["web page", "download", "again"]),
    (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code></Error>',
     ["web page", "download", "again"]),
], ids=["text", "empty", "html-404", "html", "s3-xml-error"])
def test_file_that_is_not_a_zip(tmp_path, content, needles):
    fake = tmp_path / "processed-celeba-small.zip"
    fake.write_bytes(content)
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(fake), download=False)
    one_line(e, fake.name, *needles)
    assert fake.read_bytes() == content, "the bad file must be left as it was"


# --- A truncated zip -----------------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0.5, 0.98], ids=["half", "last-bytes-missing"])
def test_truncated_zip(tmp_path, keep):
    whole = good_zip(tmp_path / "whole.zip", n=8).read_bytes()
    cut = tmp_path / "processed-celeba-small.zip"
    cut.write_bytes(whole[:int(len(whole) * keep)])
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(cut), download=False)
    one_line(e, cut.name, "truncated", "download", "again")
    with pytest.raises(FacegenError, match="truncated"):  # the same answer from the loader itself
        helpers.load_images(helpers.DataSource("zip", cut), cache_dir=None)


# --- No images -----------------------------------------------------------------------------------------

def test_zip_without_images(tmp_path):
    z = write_zip(tmp_path / "faces.zip", {"faces/": b"", "faces/README.txt": b"hi", "faces/.DS_Store": b"\0" * 8,
                                           "__MACOSX/faces/._a.jpg": b"\0\5\26\7", "faces/labels.csv": b"a,b\n"})
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(z), download=False)
    one_line(e, z.name, "no images", "FACEGEN_DATA")


def test_folder_without_images(tmp_path):
    folder = tmp_path / "faces"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("no faces here")
    (folder / "sub" / ".DS_Store").write_bytes(b"\0" * 8)
    (folder / "sub" / "._000001.jpg").write_bytes(b"\0\5\26\7")
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(folder), download=False)
    one_line(e, folder.name, "no images", "FACEGEN_DATA")
    with pytest.raises(FacegenError, match="No images"):
        helpers.load_images(helpers.DataSource("folder", folder), cache_dir=None)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacegenError) as e:
        helpers.find_dataset(data=str(tmp_path / "empty"), download=False)
    one_line(e, "empty", "no images")


# --- macOS junk -----------------------------------------------------------------------------------------

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40)


def junk_entries() -> dict[str, bytes]:
    return {"faces/": b"", "faces/000001.jpg": image_bytes(), "faces/000002.jpg": image_bytes((1, 200, 1)),
            "faces/.DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(40), "faces/._000001.jpg": APPLE_DOUBLE,
            "__MACOSX/faces/._000001.jpg": APPLE_DOUBLE, "__MACOSX/faces/000002.jpg": APPLE_DOUBLE,
            ".DS_Store": b"\x00\x00\x00\x01Bud1"}


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_macos_junk_is_ignored(tmp_path, capsys, kind):
    if kind == "zip":
        source = helpers.DataSource("zip", write_zip(tmp_path / "faces.zip", junk_entries()))
    else:
        for name, data in junk_entries().items():
            p = tmp_path / "src" / name
            if name.endswith("/"):
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        source = helpers.DataSource("folder", tmp_path / "src")
    assert helpers.list_image_names(source) == ["faces/000001.jpg", "faces/000002.jpg"]
    images = helpers.load_images(source, cache_dir=None, workers=1)
    assert len(images) == 2
    assert "Skipped" not in capsys.readouterr().out, "junk must be ignored, not decoded and reported as corrupt"
