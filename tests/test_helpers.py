"""helpers.py: what the notebook calls. Data (FaceDataset, EpochShuffle, get_dataloader, the same
pixels as the classic ImageFolder pipeline), display (image_grid, show_images, plot_losses), the
training loop (train() with the lesson's own DataLoader, a list of batches, a clear error for wrong
shapes; a new order every epoch) and the latent walk (slerp, interpolate)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from facegen import pictures, runs
from helpers import FacegenError
from tests.builders import scale, TRAIN_DEFAULTS, good_zip, nets, one_line, random_images, run_train, write_zip


# ================================================================================================
# Data
# ================================================================================================

def test_dataloader_batches_are_scaled_and_complete():
    images = torch.randint(0, 256, (70, 3, 32, 32), dtype=torch.uint8)
    loader = helpers.get_dataloader(32, images=images, scale=scale)
    batches = list(loader)
    assert len(batches) == 2 and all(b.shape == (32, 3, 32, 32) for b in batches)  # the last 6 are dropped
    assert torch.equal(runs.to_uint8(loader.dataset[0]), images[0])  # scale, then back, is lossless


@pytest.mark.parametrize("size", [32, 16])
def test_dataloader_batches_are_float32_in_minus_1_to_1_of_shape_b_3_s_s(size):
    images = torch.randint(0, 256, (40, 3, size, size), dtype=torch.uint8)
    images[0, 0, 0, 0], images[0, 0, 0, 1] = 0, 255
    loader = helpers.get_dataloader(8, image_size=size, images=images, scale=scale)
    batches = list(loader)
    assert len(batches) == 5
    for batch in batches:
        assert torch.is_tensor(batch) and batch.dtype == torch.float32 and batch.shape == (8, 3, size, size)
        assert batch.min() >= -1 and batch.max() <= 1
    everything = torch.cat(batches)
    assert everything.min() == -1 and everything.max() == 1, "0 and 255 become exactly -1 and 1"


def test_face_dataset_getitems_returns_the_whole_batch_as_one_tensor_on_its_device(monkeypatch):
    images = random_images(10)
    dataset = helpers.FaceDataset(images, scale)
    batch = dataset.__getitems__([3, 0, 7])
    assert torch.is_tensor(batch) and batch.shape == (3, 3, 32, 32) and batch.device == images.device
    assert torch.equal(batch, torch.stack([dataset[3], dataset[0], dataset[7]]))
    on_meta = helpers.FaceDataset(images, scale, device="meta").__getitems__([1, 2])  # any device: stays there
    assert on_meta.device.type == "meta" and on_meta.shape == (2, 3, 32, 32) and on_meta.dtype == torch.float32
    # The DataLoader takes the whole batch through __getitems__, never image by image.
    monkeypatch.setattr(helpers.FaceDataset, "__getitem__", lambda self, i: pytest.fail("one image at a time"))
    assert next(iter(helpers.get_dataloader(4, images=images, scale=scale))).shape == (4, 3, 32, 32)


def test_epoch_shuffle_is_fixed_by_seed_and_epoch():
    def order(seed, epoch, n=50):
        sampler = helpers.EpochShuffle(n, seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(3, 2) == order(3, 2), "the same (seed, epoch) must give the same order"
    assert sorted(order(3, 2)) == list(range(50)), "every image once"
    assert order(3, 3) != order(3, 2), "another epoch, another order"
    assert order(4, 2) != order(3, 2), "another seed, another order"
    assert len(helpers.EpochShuffle(50)) == 50


@pytest.fixture
def epochs_set(monkeypatch) -> list:
    """The epochs train() passes to EpochShuffle.set_epoch."""
    calls = []
    real = helpers.EpochShuffle.set_epoch

    def recording(self, epoch):
        calls.append(epoch)
        real(self, epoch)

    monkeypatch.setattr(helpers.EpochShuffle, "set_epoch", recording)
    return calls


def test_train_sets_the_epoch_so_a_resumed_run_sees_the_same_batches(nb, tmp_path, epochs_set, no_loss_plot):
    batches_seen = []

    def recording(*args, **kw):  # every batch train() hands to the training step, in order
        batches_seen.append(args[4].clone())
        return nb["train_step"](*args, **kw)
    run_train(nb, tmp_path / "whole", epochs=2, train_step=recording)
    assert epochs_set == [0, 1]
    whole = list(batches_seen)
    epochs_set.clear(), batches_seen.clear()
    run_train(nb, tmp_path / "split", epochs=1, train_step=recording)
    run_train(nb, tmp_path / "split", epochs=2, train_step=recording)  # resumes at epoch 2
    assert epochs_set == [0, 1], "the resumed session must start at epoch 1 (0-based), not at 0"
    assert len(batches_seen) == len(whole) == 8
    assert all(torch.equal(a, b) for a, b in zip(batches_seen, whole)), "the resumed run saw other batches"
    assert not torch.equal(whole[0], whole[4]), "epoch 2 must be in another order than epoch 1"


# --- The same pixels as the classic pipeline ----------------------------------------------------------

def classic_transform():
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(32), transforms.ToTensor(),
                               transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])


def write_faces_folder(folder: Path, n: int, size: int = 64, seed: int = 0) -> dict[str, bytes]:
    """n JPEGs of smooth random colour (size x size) in folder/faces/ (one class for ImageFolder);
    returns their bytes by relative name."""
    rng = np.random.default_rng(seed)
    entries = {}
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((size, size), Image.BICUBIC)  # detail for bilinear to average
        path = folder / "faces" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path, "JPEG", quality=90)
        entries[f"faces/{i:06d}.jpg"] = path.read_bytes()
    return entries


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_get_dataloader_yields_the_batches_of_the_classic_imagefolder_pipeline(tmp_path, monkeypatch, kind):
    from torchvision.datasets import ImageFolder

    monkeypatch.chdir(tmp_path)  # get_dataloader(source=...) caches its decoded faces under ./outputs/cache
    entries = write_faces_folder(tmp_path / "folder", 12)
    source = helpers.DataSource("folder", tmp_path / "folder") if kind == "folder" else \
        helpers.DataSource("zip", write_zip(tmp_path / "faces.zip", entries))
    classic = ImageFolder(str(tmp_path / "folder"), transform=classic_transform())
    assert [Path(p).name for p, _ in classic.samples] == [Path(n).name for n in helpers.list_image_names(source)]

    loader = helpers.get_dataloader(4, image_size=32, source=source, scale=scale, seed=1)
    tolerance = 1 / 127.5 + 1e-6  # at most one uint8 level apart; both resize with PIL's bilinear

    def expected(indices):
        return torch.stack([classic[i][0] for i in indices])

    indices = [3, 0, 11, 7]
    difference = (loader.dataset.__getitems__(indices) - expected(indices)).abs().max().item()
    assert difference <= tolerance, f"FaceDataset differs from ImageFolder by {difference * 127.5:.2f} levels"
    order = list(loader.sampler)  # epoch 0
    for number, batch in enumerate(loader):
        want = expected(order[4 * number:4 * number + 4])
        assert batch.shape == want.shape and (batch - want).abs().max().item() <= tolerance


def test_batch_larger_than_dataset(tmp_path):
    images = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(FacegenError) as e:
        helpers.get_dataloader(100, images=images, scale=scale)
    one_line(e, "FACEGEN_BATCH_SIZE=100", "64", "smaller batch")
    z = good_zip(tmp_path / "faces.zip", n=3)
    with pytest.raises(FacegenError) as e:
        helpers.get_dataloader(4, source=helpers.DataSource("zip", z), scale=scale)
    one_line(e, "FACEGEN_BATCH_SIZE=4", "3")


def test_batch_larger_than_dataset_is_refused_before_decoding(tmp_path, monkeypatch):
    z = helpers.DataSource("zip", good_zip(tmp_path / "faces.zip", n=5))
    monkeypatch.setattr(helpers, "load_images", lambda *a, **k: pytest.fail("decoded before checking the batch"))
    for batch_size, max_images in ((6, None), (4, 3), (0, None)):
        with pytest.raises(FacegenError) as e:
            helpers.get_dataloader(batch_size, source=z, max_images=max_images, scale=scale)
        one_line(e, f"FACEGEN_BATCH_SIZE={batch_size}")


# ================================================================================================
# Display
# ================================================================================================

def test_image_grid_puts_images_in_rows_on_white():
    images = torch.zeros(5, 3, 4, 4, dtype=torch.uint8)
    grid = pictures.image_grid(images, nrow=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3) and grid[0, 0].tolist() == [255, 255, 255]
    assert np.all(grid[1:5, 1:5] == 0)


def test_show_images_puts_a_dict_of_grids_side_by_side_in_one_figure(shown):
    black = torch.zeros(6, 3, 32, 32, dtype=torch.uint8)
    white = torch.full((6, 3, 32, 32), 255, dtype=torch.uint8)
    helpers.show_images({"Real": black, "Generated": white}, nrow=3, title="After 40 epochs")
    helpers.show_images(black, nrow=3, title="Alone")
    together, alone = shown
    assert [ax.get_title() for ax in together.axes] == ["Real", "Generated"]
    assert together.get_suptitle() == "After 40 epochs"
    left, right = (ax.images[0].get_array() for ax in together.axes)
    assert left[2:34, 2:34].max() == 0 and right[2:34, 2:34].min() == 255, "each panel shows its own images"
    assert [ax.get_title() for ax in alone.axes] == ["Alone"] and alone.get_suptitle() == ""
    with pytest.raises(helpers.FacegenError, match="empty"):
        helpers.show_images({})


def test_plot_losses_of_one_logged_point_draws_a_visible_marker_and_saves_a_png(tmp_path, shown):
    history = {"step": [3], "epoch": [1], "d_loss": [1.3], "g_loss": [0.7], "d_real": [0.6], "d_fake": [0.4]}
    helpers.plot_losses(history, path=tmp_path / "losses.png")
    (figure,) = shown
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    assert len(lines) == 4
    for line in lines:
        assert len(line.get_xdata()) == 1 and list(line.get_xdata()) == [3]
        assert line.get_marker() not in (None, "", " ", "None", "none"), f"{line.get_label()}: no marker"
        assert line.get_visible() and line.get_markersize() > 0
    png = (tmp_path / "losses.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(tmp_path / "losses.png") as picture:
        assert picture.size[0] > 100 and picture.size[1] > 100


# ================================================================================================
# Training: train() with any loader of image batches
# ================================================================================================

def test_train_accepts_the_lessons_imagefolder_dataloader(nb, tmp_path):
    from torchvision.datasets import ImageFolder

    write_faces_folder(tmp_path / "folder", 32)
    loader = torch.utils.data.DataLoader(ImageFolder(str(tmp_path / "folder"), transform=classic_transform()),
                                         batch_size=8, shuffle=True, drop_last=True)
    D, G, d_opt, g_opt = nets(nb)
    result = helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader,
                           helpers.Settings(epochs=1, **TRAIN_DEFAULTS, out_dir=tmp_path / "out"),
                           update_average=nb["update_average"])
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary == result.summary
    assert summary["epochs_completed"] == 1 and summary["images_seen"] == 32 and summary["batch_size"] == 8
    assert summary["dataset"]["images"] == 32 and summary["images_per_second"] > 0
    assert result.history["step"] == [2, 4] and np.isfinite(result.history["d_loss"]).all()
    assert (result.folder / "samples.png").exists() and (result.folder / "checkpoint.pt").exists()


@pytest.mark.parametrize("with_labels", [False, True], ids=["images", "images-and-labels"])
def test_train_accepts_a_plain_list_of_batches(nb, tmp_path, no_loss_plot, with_labels):
    generator = torch.Generator().manual_seed(2)
    batches = [torch.rand(8, 3, 32, 32, generator=generator) * 2 - 1 for _ in range(4)]
    loader = [(b, torch.zeros(8, dtype=torch.long)) for b in batches] if with_labels else batches
    D, G, d_opt, g_opt = nets(nb)
    result = helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader,
                           helpers.Settings(epochs=2, **TRAIN_DEFAULTS, out_dir=tmp_path),
                           update_average=nb["update_average"])
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["epochs_completed"] == 2 and summary["images_seen"] == 2 * 4 * 8
    assert result.history["step"] == [2, 4, 6, 8] and len(result.samples_per_epoch) == 2


@pytest.mark.parametrize("bad, got", [
    (torch.zeros(8, 32, 32), "(8, 32, 32)"),
    (torch.zeros(8, 1, 32, 32), "(8, 1, 32, 32)"),
    ((torch.zeros(8, 32, 32), torch.zeros(8)), "(8, 32, 32)"),
    (np.zeros((8, 3, 32, 32), np.float32), "ndarray"),
], ids=["no-channels", "one-channel", "no-channels-with-labels", "numpy"])
def test_a_loader_of_wrong_shapes_fails_in_one_line_naming_the_expected_shape(nb, tmp_path, bad, got):
    D, G, d_opt, g_opt = nets(nb)
    with pytest.raises(FacegenError) as e:
        helpers.train(D, G, d_opt, g_opt, nb["train_step"], [bad, bad],
                      helpers.Settings(epochs=1, **TRAIN_DEFAULTS, out_dir=tmp_path),
                      update_average=nb["update_average"])
    one_line(e, "(B, 3, S, S)", got)


def test_a_loader_without_a_length_is_refused_in_one_line(nb, tmp_path):
    D, G, d_opt, g_opt = nets(nb)
    batches = (torch.rand(8, 3, 32, 32) * 2 - 1 for _ in range(4))  # an iterable, with no len()
    with pytest.raises(FacegenError) as e:
        helpers.train(D, G, d_opt, g_opt, nb["train_step"], batches,
                      helpers.Settings(epochs=1, **TRAIN_DEFAULTS, out_dir=tmp_path),
                      update_average=nb["update_average"])
    one_line(e, "train_loader")


def test_an_empty_loader_is_refused_in_one_line(nb, tmp_path):
    D, G, d_opt, g_opt = nets(nb)
    with pytest.raises(FacegenError) as e:
        helpers.train(D, G, d_opt, g_opt, nb["train_step"], [],
                      helpers.Settings(epochs=1, **TRAIN_DEFAULTS, out_dir=tmp_path),
                      update_average=nb["update_average"])
    one_line(e, "no batches", "batch size")


# ================================================================================================
# Results: the latent walk
# ================================================================================================

def test_slerp_ends_at_its_endpoints_and_keeps_the_norm_of_orthogonal_unit_vectors():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(helpers.slerp(z0, z1, 0.0), z0)
    assert torch.allclose(helpers.slerp(z0, z1, 1.0), z1, atol=1e-6)
    middle = helpers.slerp(z0, z1, 0.5)
    assert middle.norm().item() == pytest.approx(1.0)  # a straight line would give 0.707
    assert torch.allclose(middle, torch.tensor([0.5 ** 0.5, 0.5 ** 0.5]))


def test_interpolate_gives_rows_of_faces_that_start_and_end_at_their_own_z(nb):
    G = nb["Generator"](z_size=100, conv_dim=8)
    faces = helpers.interpolate(G, rows=2, steps=5, z_size=100)
    assert faces.shape == (10, 3, 32, 32) and faces.dtype == torch.uint8
    assert not torch.equal(faces[0], faces[4]), "a row should change from its first face to its last"


@pytest.mark.slow
def test_explain_stubs_shortens_only_the_exercises_own_not_implemented_errors():
    """In a real kernel: a stub's error is one line naming its step; any other NotImplementedError (a
    library's) keeps its traceback."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import helpers\nhelpers.explain_stubs()"),
                nbformat.v4.new_code_cell("raise NotImplementedError('not implemented yet: step 3, scale')"),
                nbformat.v4.new_code_cell("raise NotImplementedError('this op is not implemented on MPS')")]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(helpers.__file__).parent)}})
    client.execute()
    stub, other = nb.cells[1].outputs, nb.cells[2].outputs
    assert [o.output_type for o in stub] == ["stream"]
    assert stub[0].text.startswith("Not implemented yet: step 3, scale. Write that step")
    assert [o.output_type for o in other] == ["error"] and other[0].traceback


@pytest.mark.slow
def test_running_ahead_of_a_step_names_the_step_in_one_line_and_other_name_errors_keep_their_traceback():
    """In a real kernel: a cell that uses D before step 4 ran says so in one line (and still fails); a
    misspelt name of the learner's own keeps Python's traceback."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import helpers\nhelpers.explain_stubs()"),
                nbformat.v4.new_code_cell("print(D)"), nbformat.v4.new_code_cell("import sys\nprint(repr(sys.last_value))"),
                nbformat.v4.new_code_cell("x = 1\nprint(y_misspelt)"),
                nbformat.v4.new_code_cell("def f():\n    return G  # a typo for the learner's own g\nf()"),
                nbformat.v4.new_code_cell("print(G_trained)")]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(helpers.__file__).parent)}})
    client.execute()
    ahead, last, other, inside, optional = (nb.cells[i].outputs for i in (1, 2, 3, 4, 5))
    assert [o.output_type for o in ahead] == ["error"] and ahead[0].ename == "NameError"
    assert ahead[0].traceback == ["NameError: D is not defined yet: it comes from step 4. Write that step (or run "
                                  "its cells), then run this one again."]
    assert last[0].text.strip() == "NameError(\"name 'D' is not defined\")", "%tb and %debug see this error"
    assert [o.output_type for o in other] == ["error"] and len(other[0].traceback) > 1
    assert [o.output_type for o in inside] == ["error"] and len(inside[0].traceback) > 1, \
        "a NameError inside a function keeps its traceback, even for a name a step defines"
    assert not any("comes from step 4" in line for line in inside[0].traceback)
    assert optional[0].traceback == ["NameError: G_trained is not defined yet: it comes from the first cell of "
                                     "Going further. Run it, then run this one again."]


# ================================================================================================
# How the notebook shows a failed check
# ================================================================================================

class FakeShell:
    """What explain_stubs uses of IPython's shell: set_custom_exc, and the error output it shows."""

    def __init__(self):
        self.shown = []

    def set_custom_exc(self, exc_tuple, handler):
        self.exc_tuple, self.handler = exc_tuple, handler

    def _showtraceback(self, etype, evalue, stb):
        self.shown.append((etype, stb))


def raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - whatever fn raises is what the handler gets
        return type(e), e, e.__traceback__
    raise AssertionError("expected an exception")


def test_explain_stubs_shows_a_failed_check_as_one_line(monkeypatch, nb):
    import builtins

    import problem_unittests as tests
    from facegen.checks.common import CheckFailed

    shell = FakeShell()
    monkeypatch.setattr(builtins, "get_ipython", lambda: shell, raising=False)
    helpers.explain_stubs()
    assert CheckFailed in shell.exc_tuple and NotImplementedError in shell.exc_tuple
    shell.handler(shell, *raised(lambda: tests.check_losses(lambda d_out, smooth=False: nb["fake_loss"](d_out),
                                                            nb["fake_loss"])))
    (etype, stb), = shell.shown
    assert etype is CheckFailed and len(stb) == 1
    assert stb[0].startswith("check_losses: real_loss(d_out) on logits [2.0, -1.0, 0.5, 0.0]: expected 0.6519")
    assert "\n" not in stb[0] and "Traceback" not in stb[0]


@pytest.mark.slow
def test_explain_stubs_shows_a_failed_check_in_one_line_and_still_fails_the_cell():
    """In a real kernel: the failed check's cell has one error output, its traceback one line `check_scale: ...`;
    the execute reply is an error (nbclient stops there), and an iopub error message went out (what nbval and
    nbgrader look for). Another exception keeps its full traceback."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    def notebook(*sources):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(s) for s in
                    ("import helpers\nimport problem_unittests as tests\nhelpers.explain_stubs()", *sources)]
        return nb

    resources = {"metadata": {"path": str(Path(helpers.__file__).parent)}}
    nb = notebook("tests.check_scale(lambda x, feature_range=(-1, 1): x)", "print('not reached')")
    with pytest.raises(CellExecutionError):
        NotebookClient(nb, timeout=120, kernel_name="python3", resources=resources).execute()
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["error"] and outputs[0].ename == "CheckFailed"
    assert len(outputs[0].traceback) == 1
    assert outputs[0].traceback[0].startswith("check_scale: scale([0.0, 0.25, 0.5, 1.0], feature_range=(-1, 1)): "
                                              "expected [-1.0, -0.5, 0.0, 1.0], got [0.0, 0.25, 0.5, 1.0]")
    assert nb.cells[2].outputs == []  # the notebook stopped at the failed check
    other = notebook("def f():\n    raise ValueError('a bug')\nf()")
    NotebookClient(other, timeout=120, kernel_name="python3", allow_errors=True, resources=resources).execute()
    error, = other.cells[1].outputs
    assert error.output_type == "error" and error.ename == "ValueError" and len(error.traceback) > 1


# ================================================================================================
# The held-out faces
# ================================================================================================

@pytest.mark.parametrize("n_images, n_held_out", [(32_600, 5_000), (89_931, 5_000), (10_000, 2_000), (1_024, 204)])
def test_hold_out_keeps_the_last_faces_by_name_out_of_training(n_images, n_held_out):
    images = torch.arange(n_images).reshape(n_images, 1, 1, 1)  # each face its position in file-name order
    train, held_out = helpers.hold_out(images)
    assert len(held_out) == n_held_out and len(train) + len(held_out) == n_images
    assert torch.equal(torch.cat([train, held_out]), images), "the last faces, in order, none lost or repeated"


def test_hold_out_refuses_to_leave_nothing_to_train_on():
    with pytest.raises(FacegenError) as e:
        helpers.hold_out(torch.zeros(10, 3, 32, 32), n=10)
    one_line(e, "10 of 10", "train")


# ================================================================================================
# The Hyperparameters cell run again without the cells that build the optimizers and the loader
# ================================================================================================

def test_what_the_optimizers_and_loader_do_not_hold_is_said_in_one_line(nb, capsys):
    D, G = nb["Discriminator"](conv_dim=8), nb["Generator"](conv_dim=8)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = helpers.get_dataloader(16, images=torch.zeros(64, 3, 32, 32, dtype=torch.uint8), scale=nb["scale"])
    helpers.say_unused_hyperparameters(d_opt, g_opt, loader, 2e-4, (0.5, 0.999), 16)
    assert capsys.readouterr().out == "", "all held: nothing to say"
    helpers.say_unused_hyperparameters(d_opt, g_opt, loader, 1e-4, (0.9, 0.999), 32)
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and said.startswith("Not what the Hyperparameters cell says: "), said
    for part in ("d_optimizer holds lr 0.0002, not 0.0001", "g_optimizer holds betas (0.5, 0.999), not (0.9, 0.999)",
                 "train_loader gives batches of 16, not 32", "run the cells from the Hyperparameters cell down"):
        assert part in said, (part, said)


def test_keep_results_keeps_a_trained_runs_pictures_and_summary_and_a_pretrained_result_changes_nothing(
        tmp_path, capsys, monkeypatch):
    """The cell above the reflection: a trained run's samples, losses and summary go into my_results/ (they go
    with a submission), and are shown; a result that trained nothing here leaves my_results/ as it was."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda image: shown.append(image))
    run, mine = tmp_path / "runs" / "run0", tmp_path / "my_results"
    run.mkdir(parents=True)
    (run / "samples.png").write_bytes(b"the run's faces")
    (run / "losses.png").write_bytes(b"the run's losses")
    helpers.write_json(run / "summary.json", {"images_seen": 82752, "epochs_completed": 3, "seconds_training": 300.2,
                                              "device": "cpu", "fid": 110.62, "fid_samples": 300})
    trained = runs.TrainResult({}, [], torch.zeros(1), {"images_seen": 82752}, None, run)
    helpers.keep_results(trained, mine)
    out = capsys.readouterr().out
    assert (mine / "samples.png").read_bytes() == b"the run's faces" and (mine / "summary.json").exists()
    assert "Your run: 82,752 faces seen, 3 epoch(s), 5.0 minutes of training on cpu, FID 110.6 (300 samples)." in out
    assert [image.data for image in shown] == [b"the run's faces", b"the run's losses"]
    (run / "samples.png").write_bytes(b"the autograder's faces")
    pretrained = runs.TrainResult({}, [], torch.zeros(1), {"trained_here": False}, None, run)
    helpers.keep_results(pretrained, mine)
    assert (mine / "samples.png").read_bytes() == b"the run's faces", "a pretrained result replaced the student's"
    assert "Nothing was trained here" in capsys.readouterr().out
    helpers.keep_results(pretrained, tmp_path / "none")
    assert "holds no results yet" in capsys.readouterr().out and not (tmp_path / "none").exists()


def test_a_weight_average_without_its_update_function_is_refused_in_one_line(nb, tmp_path):
    D, G, d_opt, g_opt = nets(nb)
    batches = [torch.rand(8, 3, 32, 32) * 2 - 1 for _ in range(2)]
    with pytest.raises(FacegenError) as e:
        helpers.train(D, G, d_opt, g_opt, nb["train_step"], batches, helpers.Settings(epochs=1, out_dir=tmp_path))
    one_line(e, "update_average", "ema_decay=None")
    result = helpers.train(D, G, d_opt, g_opt, nb["train_step"], batches,
                           helpers.Settings(epochs=1, ema_decay=None, out_dir=tmp_path, **TRAIN_DEFAULTS))
    assert result.generator is G, "without a weight average, samples come from G itself"
