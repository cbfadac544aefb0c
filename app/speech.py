"""Say the result aloud with the browser's speech synthesis (``window.speechSynthesis``): the
seed GUI's text-to-speech, without a desktop dependency.

The snippet runs in the small frame that ``streamlit.components.v1.html`` makes; it speaks
through the page's own ``speechSynthesis`` (the frame shares the page's origin), whose user
activation the visitor's click on the switch gave, and falls back to the frame's own.
"""

from __future__ import annotations

import html
import json

__all__ = ["result_sentence", "speech_html"]


def result_sentence(
    emotion: str, confidence: float | None = None, *, name: str | None = None
) -> str:
    """What is said: ``"angry, 79 percent"``, preceded by the clip's name when given."""
    said = emotion if confidence is None else f"{emotion}, {round(100 * confidence)} percent"
    return f"{name}: {said}" if name else said


def speech_html(text: str, *, lang: str = "en-US", token: str = "") -> str:
    """HTML that speaks ``text`` once when it is loaded, with a button to say it again.

    ``token`` makes the snippet differ for each new result, so that Streamlit reloads the
    frame (and the text is spoken) when the result changes, and not on every rerun.
    """
    # JSON inside <script>: "</" could end the script early (a class name is the user's text)
    payload = json.dumps({"text": text, "lang": lang, "token": token}).replace("</", "<\\/")
    return f"""<div style="font-family: 'Source Sans Pro', sans-serif; font-size: 14px;">
<button id="again" type="button">Say it again</button>
<span id="said" style="margin-left: 0.5em;">{html.escape(text)}</span>
<span id="status" style="color: #777; margin-left: 0.5em;"></span>
</div>
<script>
const said = {payload};
function synth() {{
  try {{
    if (window.parent && window.parent.speechSynthesis) return window.parent.speechSynthesis;
  }} catch (e) {{}}
  return window.speechSynthesis;
}}
function speak() {{
  const s = synth();
  const status = document.getElementById("status");
  if (!s) {{ status.textContent = "this browser has no speech synthesis"; return; }}
  let Utterance = SpeechSynthesisUtterance;
  try {{
    if (s !== window.speechSynthesis) Utterance = window.parent.SpeechSynthesisUtterance;
  }} catch (e) {{}}
  const u = new Utterance(said.text);
  u.lang = said.lang;
  s.cancel();
  s.speak(u);
}}
document.getElementById("again").addEventListener("click", speak);
speak();
</script>"""
