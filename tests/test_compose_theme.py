"""User themes: override the default file by file; a broken template is a one-line ComposeError."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter import compose
from newsletter.errors import ComposeError
from tests.test_compose import SPY, make_config, render


def theme(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "mytheme"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_theme_overriding_style_css_keeps_the_default_layout(tmp_path):
    theme(tmp_path, {"style.css": ".headline { color: #123456; }\n.copy p { margin: 0; }\n"})
    rendered = render(make_config(tmp_path, templates="mytheme"))
    # The user's CSS, inlined (classes no @media rule uses are dropped after inlining).
    assert '<h2 style="color:#123456">' in rendered.html
    assert "#8c2f1b" not in rendered.html  # the default CSS is replaced, not added to
    assert "display: none" in rendered.html and "More about:" in rendered.html  # default layout
    assert "More about: Gaza War 2023" in rendered.text  # default text part


def test_a_theme_overriding_a_partial_and_the_text_part(tmp_path):
    theme(tmp_path, {
        "item.html.j2": '<tr><td class="mine">{{ item.title }} / {{ item.date_iso }}</td></tr>\n',
        "email.txt.j2": "{% for item in items %}* {{ item.title }}\n{% endfor %}",
    })
    rendered = render(make_config(tmp_path, templates="mytheme"), [SPY])
    assert "<td>Iran Gives in to Spy Mania / 2024-10-11</td>" in rendered.html
    assert 'class="headline"' not in rendered.html
    assert rendered.text == "* Iran Gives in to Spy Mania\n"


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    theme(tmp_path, {"email.html.j2": "<html>\n<body>\n{% for item in items %}\n{{ item.title }\n</body>\n"})
    with pytest.raises(ComposeError) as info:
        render(make_config(tmp_path, templates="mytheme"))
    error = info.value
    assert error.where == "mytheme/email.html.j2:4"
    assert "\n" not in str(error) and error.hint == "fix the template"


def test_an_undefined_variable_names_the_partial_and_line(tmp_path):
    theme(tmp_path, {"item.html.j2": "<tr><td>\n{{ item.title }}\n{{ item.subtitle }}\n</td></tr>\n"})
    with pytest.raises(ComposeError) as info:
        render(make_config(tmp_path, templates="mytheme"), [SPY])
    assert info.value.where == "mytheme/item.html.j2:3"
    assert "subtitle" in info.value.message


def test_a_missing_include_names_the_template(tmp_path):
    theme(tmp_path, {"footer.html.j2": "<tr><td>\n{% include 'nope.html.j2' %}\n</td></tr>\n"})
    with pytest.raises(ComposeError) as info:
        render(make_config(tmp_path, templates="mytheme"), [SPY])
    assert "'nope.html.j2' not found" in info.value.message
    assert info.value.where == "mytheme/footer.html.j2:2"


def test_an_error_raised_in_a_template_expression_is_a_compose_error(tmp_path):
    theme(tmp_path, {"email.txt.j2": "{{ newsletter.title }}\n{{ 1 // 0 }}\n"})
    with pytest.raises(ComposeError) as info:
        render(make_config(tmp_path, templates="mytheme"), [SPY])
    assert info.value.where == "mytheme/email.txt.j2:2"


def test_themes_are_cached_per_folder_and_user_files_win(tmp_path):
    folder = theme(tmp_path, {"style.css": "p { color: red; }"})
    config = make_config(tmp_path, templates="mytheme")
    env = compose.load_theme(config)
    assert env is compose.load_theme(make_config(tmp_path, templates=str(folder)))
    assert env is not compose.load_theme(make_config(tmp_path))
    assert env.get_template("style.css").filename == str(folder / "style.css")
    assert env.get_template("email.html.j2").filename != str(folder / "email.html.j2")


def test_a_layout_of_your_own_may_include_the_default_item_as_it_did(tmp_path):
    # email.html.j2 written for an earlier default theme: no `first`, no contents list.
    theme(tmp_path, {"email.html.j2": "<html><body><table>{% for item in items %}{% include 'item.html.j2' %}"
                                      "{% endfor %}</table></body></html>\n"})
    html = render(make_config(tmp_path, templates="mytheme"), [SPY, SPY]).html
    assert html.count("Iran Gives in to Spy Mania</a></h2>") == 2 and "border-top" not in html
