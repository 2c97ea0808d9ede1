"""Immutable tags (images:singleuser_tag): built once, pushed again if the registry lost
them, never passed for present when the registry cannot be asked."""

from tests.common.fake_docker_cli import (
    STUDENT,
    build_args,
    imagectl,
    stateful_line,
    student_args,
)

# --- immutable tags (images:singleuser_tag) ----------------------------------------------


KEPT = "already built (tags are immutable; choose a new images:singleuser_tag to rebuild)"


def test_an_immutable_tag_is_built_once_and_never_again(context, fake, capsys):
    assert imagectl.main(student_args(context, "week5")) == 0
    assert stateful_line(capsys)["changed"] == "yes"
    assert fake.commands.count("build") == 1 and f"{STUDENT}:week5" in fake.pushed
    (context / "pkg" / "mod.py").write_text("x = 2\n")  # staff edit the files, same tag
    assert imagectl.main([*student_args(context, "week5"), "--check"]) == 0
    assert imagectl.main([*student_args(context, "week5"), "--plan"]) == 0
    assert stateful_line(capsys) == {"changed": "no", "comment": f"kept week5: {KEPT}"}
    assert imagectl.main(student_args(context, "week5")) == 0
    assert stateful_line(capsys) == {"changed": "no", "comment": f"kept week5: {KEPT}"}
    assert fake.commands.count("build") == 1 and fake.commands.count("push") == 1


def test_the_moving_tag_is_still_rebuilt_when_its_inputs_change(context, fake, capsys):
    args = build_args(context, "--push")
    imagectl.main(args)
    (context / "pkg" / "mod.py").write_text("x = 2\n")
    imagectl.main(args)
    assert "built" in stateful_line(capsys)["comment"]
    assert fake.commands.count("build") == 2


def test_rollback_to_a_tag_only_the_registry_has_rebuilds_nothing(context, fake, capsys):
    """week4, then week5 from edited files; the hub pruned its week4; back to week4."""
    imagectl.main(student_args(context, "week4"))
    (context / "pkg" / "mod.py").write_text("import pandas\n")
    imagectl.main(student_args(context, "week5"))
    del fake.images[f"{STUDENT}:week4"]
    capsys.readouterr()
    assert imagectl.main(student_args(context, "week4")) == 0
    assert stateful_line(capsys) == {"changed": "no", "comment": f"kept week4: {KEPT}"}
    assert fake.commands.count("build") == 2 and fake.commands.count("push") == 2


def test_an_immutable_tag_the_registry_lost_is_pushed_again_not_rebuilt(context, fake, capsys):
    imagectl.main(student_args(context, "week5"))
    fake.pushed.clear()
    (context / "pkg" / "mod.py").write_text("x = 2\n")
    assert imagectl.main([*student_args(context, "week5"), "--plan"]) == 0
    assert stateful_line(capsys) == {
        "changed": "yes",
        "comment": f"kept week5: {KEPT}; would push it",
    }
    assert imagectl.main(student_args(context, "week5")) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes" and line["comment"].startswith(f"kept week5: {KEPT}; pushed")
    assert fake.commands.count("build") == 1 and fake.commands.count("push") == 2


def test_an_unreachable_registry_never_passes_for_a_missing_tag(context, fake, capsys):
    """Else a hub that lost its local copy would rebuild a tag the nodes already run."""
    fake.registry_down = True
    assert imagectl.main(student_args(context, "week5")) == 1
    assert "cannot tell whether the registry has it" in capsys.readouterr().err
    assert fake.commands.count("build") == 0


def test_a_new_tag_with_the_inputs_of_a_local_image_is_tagged_not_built(context, fake, capsys):
    imagectl.main(student_args(context, "week5"))
    built = fake.images[f"{STUDENT}:week5"]["id"]
    capsys.readouterr()
    assert imagectl.main([*student_args(context, "week6"), "--plan"]) == 0
    line = stateful_line(capsys)
    assert line["changed"] == "yes"
    assert line["comment"] == (
        f"would tag {built[7:19]} (built from the same inputs) as {STUDENT}:week6 and push it"
    )
    assert imagectl.main(student_args(context, "week6")) == 0
    assert "tagged" in stateful_line(capsys)["comment"]
    assert fake.images[f"{STUDENT}:week6"]["id"] == built
    assert fake.commands.count("build") == 1 and f"{STUDENT}:week6" in fake.pushed
