"""facegen/settings.py: the FACEGEN_* settings (bad values refused in one line) and the device and
precision to train on."""
from __future__ import annotations

import re

import pytest
import torch

import helpers
from facegen import fast_step, settings
from helpers import FacegenError
from tests.builders import CPU, one_line

# === The FACEGEN_* settings =======================================================================
# facegen/settings.py: the FACEGEN_* settings, validated before any work starts, each bad one
# refused in one line naming the variable and the value.

@pytest.mark.parametrize("name, value, variable", [
    ("epochs", "-1", "FACEGEN_EPOCHS"), ("epochs", "0", "FACEGEN_EPOCHS"), ("epochs", "ten", "FACEGEN_EPOCHS"),
    ("epochs", "2.5", "FACEGEN_EPOCHS"), ("epochs", -3, "FACEGEN_EPOCHS"),
    ("batch_size", "0", "FACEGEN_BATCH_SIZE"), ("batch_size", "-64", "FACEGEN_BATCH_SIZE"),
    ("batch_size", "lots", "FACEGEN_BATCH_SIZE"),
    ("minutes", "nan", "FACEGEN_MINUTES"), ("minutes", "inf", "FACEGEN_MINUTES"), ("minutes", "-5", "FACEGEN_MINUTES"),
    ("max_images", "-5", "FACEGEN_MAX_IMAGES"), ("seed", "x", "FACEGEN_SEED"),
    ("fid_samples", "-1", "FACEGEN_FID_SAMPLES"),
])
def test_bad_numbers_are_refused(name, value, variable):
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(**{name: value})
    message = one_line(e, variable)
    if str(value):
        assert repr(value) in message or str(value) in message, message


def test_good_parameters_pass():
    made = settings.read_parameters(epochs="3", batch_size="64", device="cpu", minutes="1.5", seed="7")
    assert (made.epochs, made.batch_size, made.minutes, made.seed) == (3, 64, 1.5, 7)


def test_quick_takes_a_subset_for_one_epoch_and_a_cpu_run_is_time_bounded():
    quick = settings.read_parameters(quick="1", device="cpu")
    assert (quick.epochs, quick.max_images) == (settings.QUICK_EPOCHS, settings.QUICK_MAX_IMAGES)
    assert settings.training_budget(quick, CPU) == (settings.QUICK_EPOCHS, None)
    plain = settings.read_parameters(device="cpu")
    assert settings.training_budget(plain, CPU) == (settings.GPU_EPOCHS, settings.CPU_MINUTES)


@pytest.mark.parametrize("device, minutes", [("cpu", settings.CPU_MINUTES), ("mps", settings.CPU_MINUTES),
                                             ("cuda", None), ("cuda:1", None)])
def test_only_a_cuda_gpu_trains_without_a_time_limit(device, minutes):
    """One rule: a CUDA GPU trains the GPU recipe's 40 epochs; a CPU and a Mac's GPU (mps) the laptop recipe,
    time-bounded. FACEGEN_EPOCHS lifts the bound anywhere, FACEGEN_MINUTES sets it anywhere."""
    plain = settings.read_parameters()
    assert settings.training_budget(plain, torch.device(device)) == (settings.GPU_EPOCHS, minutes)
    assert settings.training_budget(settings.read_parameters(epochs="3"), torch.device(device)) == (3, None)
    assert settings.training_budget(settings.read_parameters(minutes="2"), torch.device(device)) == (40, 2.0)


def test_fid_is_off_in_the_quick_and_pretrained_configurations_unless_asked_for():
    """The notebook measures FID by default (300 samples on a CPU); the tests' quick runs and the pretrained
    look-around do not, unless FACEGEN_FID_SAMPLES says so."""
    assert settings.read_parameters().fid_samples is None, "unset: step 10 picks (10,000 on a GPU, 300 on a CPU)"
    assert settings.read_parameters(quick="1").fid_samples == 0
    assert settings.read_parameters(pretrained="1").fid_samples == 0
    assert settings.read_parameters(quick="1", fid_samples="50").fid_samples == 50


def test_the_pretrained_route_keeps_every_face_for_the_search_for_copies():
    """Step 11 and Going further's experiment 4 look for copies among the training faces: all of them, on every
    route (the quick configuration alone caps the faces, for the tests)."""
    assert settings.read_parameters(pretrained="1").max_images is None
    assert settings.read_parameters(pretrained="1", max_images="500").max_images == 500
    assert settings.read_parameters(pretrained="1", quick="1").max_images == settings.QUICK_MAX_IMAGES


def test_the_settings_cell_sets_its_four_values_and_a_variable_overrides_one_saying_so(capsys):
    cell = {"minutes": 0.4, "fresh": True, "pretrained": False, "eager": True}
    made = helpers.read_settings({}, **cell)
    assert (made.minutes, made.fresh, made.pretrained, made.eager) == (0.4, True, False, True)
    assert capsys.readouterr().out == ""
    made = helpers.read_settings({"FACEGEN_MINUTES": "2", "FACEGEN_PRETRAINED": "1"}, **cell)
    assert (made.minutes, made.pretrained, made.fresh) == (2.0, True, True)
    said = capsys.readouterr().out.splitlines()
    assert said == ["FACEGEN_MINUTES=2 (set outside the notebook) overrides minutes = 0.4 of the settings cell.",
                    "FACEGEN_PRETRAINED=1 (set outside the notebook) overrides pretrained = False of the settings cell."]
    assert helpers.read_settings({}, minutes=None).minutes is None  # the default: 5 on a laptop (training_budget)


@pytest.mark.parametrize("cell, says", [({"minutes": -1}, "minutes (in the settings cell) must be >= 0.01, got -1"),
                                        ({"fresh": "maybe"}, "fresh (in the settings cell) must be True or False"),
                                        ({"epochs": 3}, "read_settings takes minutes, fresh, pretrained, eager")])
def test_a_bad_value_of_the_settings_cell_is_named_as_the_learner_wrote_it(cell, says):
    with pytest.raises(FacegenError, match=re.escape(says)):
        helpers.read_settings({}, **cell)


def test_read_settings_takes_each_facegen_variable_and_the_defaults_for_the_rest():
    made = helpers.read_settings({"FACEGEN_EPOCHS": "3", "FACEGEN_SEED": "7", "FACEGEN_OUT": "elsewhere",
                                       "FACEGEN_DEVICE": "cpu", "FACEGEN_FRESH": "1", "CI": "true"})
    assert (made.epochs, made.seed, str(made.out_dir), made.fresh) == (3, 7, "elsewhere", True)
    assert (made.batch_size, made.quick, made.minutes) == (None, False, None), "unset: the defaults; CI: nothing"
    with pytest.raises(FacegenError) as e:
        helpers.read_settings({"FACEGEN_BATCH_SIZE": "lots"})
    one_line(e, "FACEGEN_BATCH_SIZE", "lots")


@pytest.mark.parametrize("value, expected", [("", "auto"), ("BF16", "bf16"), ("fp32", "fp32"), ("auto", "auto")])
def test_facegen_precision_is_read_and_checked(value, expected):
    assert helpers.read_settings({"FACEGEN_PRECISION": value}).precision == expected


def test_an_unknown_precision_is_refused_in_one_line():
    with pytest.raises(FacegenError) as e:
        helpers.read_settings({"FACEGEN_PRECISION": "fp8"})
    one_line(e, "FACEGEN_PRECISION", "fp8")


def test_a_whole_number_may_be_written_with_a_point_zero():
    assert settings.read_parameters(epochs="2.0", batch_size="64.0").epochs == 2


def test_the_seed_must_fit_the_generators():
    """The bug this replaces: FACEGEN_SEED=30000000000000 passed, then the loader's order overflowed."""
    assert settings.read_parameters(seed=str(settings.SEED_MAX)).seed == settings.SEED_MAX
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(seed="30000000000000")
    one_line(e, "FACEGEN_SEED", "between 0 and 4,294,967,295")


@pytest.mark.parametrize("value, on", [("1", True), ("TRUE", True), (" on ", True), ("yes", True), ("", False),
                                       ("0", False), ("Off", False), ("no", False), (None, False)])
def test_yes_no_settings_take_what_they_say(value, on):
    assert settings.read_parameters(fresh=value).fresh is on


@pytest.mark.parametrize("name, value", [("fresh", "n"), ("pretrained", "nein"), ("quick", "please"),
                                         ("eager", "2")])
def test_a_yes_no_setting_that_says_neither_is_refused(name, value):
    """The bug this replaces: anything but a few words meant yes, so FACEGEN_FRESH=n started over."""
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(**{name: value})
    one_line(e, f"FACEGEN_{name.upper()}", repr(value))


@pytest.mark.parametrize("name, nearest", [("FACEGEN_EPOCH", "FACEGEN_EPOCHS"), ("FACEGEN_OUT_DIR", "FACEGEN_OUT"),
                                           ("facegen_seeds", "FACEGEN_SEED")])
def test_a_misspelt_setting_is_refused_with_the_nearest_name(name, nearest):
    with pytest.raises(FacegenError) as e:
        helpers.read_settings({name: "3"})
    one_line(e, name, f"did you mean {nearest}?")


def test_every_setting_the_docs_list_is_known_and_every_known_one_listed():
    import re

    from tests.builders import ROOT
    listed = set(re.findall(r"^\| `(FACEGEN_[A-Z_]+)` \|", (ROOT / "docs" / "outputs.md").read_text(), re.M))
    helpers.read_settings({name: "" for name in listed - {"FACEGEN_SEED"}})  # none refused as unknown
    known = {settings.variable(name) for name in settings.ENVIRONMENT} | set(settings.OTHER_VARIABLES)
    assert listed == known, (listed ^ known)

# === The device and its precision =================================================================
# facegen/settings.py: which device (FACEGEN_DEVICE, refused in one line when it is not there) and which
# precision: bf16 only on GPUs that do it natively, fp32 on CPUs.

# --- The device -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tpu", "gpu", "xla", "meta", "cuda:abc"])
def test_unknown_device_is_refused(name):
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(device=name)
    one_line(e, "FACEGEN_DEVICE", name, "cpu")


def test_cuda_without_a_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(device="cuda")
    one_line(e, "FACEGEN_DEVICE", "no CUDA GPU", "cpu")


def test_cuda_index_that_does_not_exist_is_refused():
    """cuda:99 is no device on any machine: refused up front, not at the first tensor moved there."""
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(device="cuda:99")
    one_line(e, "FACEGEN_DEVICE", "cuda:99")


def test_a_cuda_index_beyond_the_machines_gpus_names_those_there_are(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(FacegenError) as e:
        settings.read_parameters(device="cuda:2")
    one_line(e, "FACEGEN_DEVICE=cuda:2", "2 CUDA GPU(s) (cuda:0 to cuda:1)")


def test_cpu_is_always_there_whatever_the_spelling():
    assert helpers.pick_device(" CPU ") == CPU


# --- The precision: a CPU trains in fp32, whatever bf16 instructions it has ---------------------------

@pytest.mark.parametrize("avx512_bf16, amx", [(False, False), (True, False), (False, True), (True, True)])
def test_bf16_counts_as_native_on_a_cpu_only_with_avx512_bf16_or_amx(monkeypatch, avx512_bf16, amx):
    """Where it is native FastStep measures bf16 against fp32 (tests/test_fast_step.py); elsewhere oneDNN
    emulates it, 13x slower, and it is never tried. Training starts in fp32 either way."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert fast_step.native_bf16() == (avx512_bf16 or amx)
    assert settings.pick_precision(CPU) == "fp32"


@pytest.mark.parametrize("precision, autocast", [("bf16", torch.bfloat16), ("fp32", None)])
def test_a_precision_asked_for_on_a_cpu_is_the_one_the_step_runs_in(precision, autocast):
    seen = []

    def step(*args):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return 1.0, 2.0, 0.5, 0.5
    fast = helpers.FastStep(step, torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), CPU, precision, tune=False)
    fast(None, None, None, None, torch.zeros(2, 3, 4, 4), 100)
    assert seen == [autocast] and fast.precision == precision


# --- On CUDA: bf16 only where it is native (compute capability 8.0 or more) ---------------------------

@pytest.mark.parametrize("capability, expected", [((7, 5), "fp32"), ((7, 0), "fp32"), ((8, 0), "bf16"),
                                                  ((8, 6), "bf16"), ((9, 0), "bf16")])
def test_cuda_precision_is_bf16_only_from_compute_capability_8(monkeypatch, capability, expected):
    """A T4 (7.5) says is_bf16_supported() by emulation, which is slow: it gets fp32."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert settings.pick_precision(torch.device("cuda")) == expected


def test_the_device_is_named_in_the_summary_with_its_gpu(monkeypatch):
    assert settings.device_name(CPU) == "cpu"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA T4")
    assert settings.device_name(torch.device("cuda")) == "cuda (NVIDIA T4)"


# --- One Settings object: the settings cell, the environment and the recipe ----------------------------------

@pytest.mark.parametrize("changes, words", [({"ema": 0.99}, ["'ema'", "did you mean 'ema_decay'?"]),
                                            ({"epoch": 1}, ["'epoch'", "did you mean 'epochs'?"]),
                                            ({"ema_decay": 1.5}, ["ema_decay", "between 0 and"]),
                                            ({"z_size": 0}, ["z_size", ">= 1"]),
                                            ({"epochs": "two"}, ["FACEGEN_EPOCHS", "whole number"])])
def test_a_setting_that_is_unknown_or_out_of_range_is_refused_in_one_line(changes, words):
    with pytest.raises(FacegenError) as e:
        settings.Settings().replace(**changes)
    one_line(e, *words)


def test_settings_are_validated_however_they_are_made():
    made = settings.Settings(epochs="3", smooth="no", ema_decay=None, sample_size=1)
    assert (made.epochs, made.smooth, made.ema_decay, made.sample_size) == (3, False, None, 1)
    assert made.replace(z_size=64).z_size == 64 and made.z_size == 100, "replace makes a copy"
    with pytest.raises(FacegenError):
        settings.Settings(minutes=-1)


def test_the_run_identity_holds_the_recipe_and_the_seed_not_where_or_how_long():
    base = settings.Settings(faces="zip: processed-celeba-small.zip")
    assert base.identity() == {"z_size": 100, "smooth": True, "ema_decay": 0.999, "seed": 0,
                               "faces": "zip: processed-celeba-small.zip"}
    assert base.replace(minutes=30, out_dir="elsewhere", fresh=True).identity() == base.identity()
