// Checks a JSON payload before the form is sent, so a typo is shown beside the field.
// The server checks it again: this only saves a round trip.
document.addEventListener("submit", function (event) {
  var area = event.target.querySelector("textarea[data-json]");
  if (!area) return;
  var error = event.target.querySelector(".field-error");
  var text = area.value.trim();
  try {
    if (text) JSON.parse(text);
    if (error) { error.hidden = true; error.textContent = ""; }
  } catch (e) {
    event.preventDefault();
    if (error) { error.hidden = false; error.textContent = "payload: not valid JSON: " + e.message; }
  }
});
