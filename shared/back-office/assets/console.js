// The console's behaviour: task actions through the JSON API, and the image preview.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) {
    const flash = document.getElementById("flash");
    button.disabled = true;
    const answer = await fetch(`/admin/ai/api/tasks/${button.dataset.task}/${button.dataset.action}`, {
      method: "POST",
      credentials: "same-origin",
    });
    const body = await answer.json().catch(() => ({}));
    flash.textContent = body.message || (answer.ok ? "OK" : `HTTP ${answer.status}`);
    if (answer.ok) setTimeout(() => location.reload(), 600);
    else button.disabled = false;
    return;
  }
  const image = event.target.closest("img.thumb");
  const preview = document.getElementById("preview");
  if (image && preview) {
    const large = document.createElement("img");
    large.src = image.src;
    large.id = "preview-image";
    preview.replaceChildren(large);
    preview.hidden = false;
  } else if (event.target.closest("#preview")) {
    preview.hidden = true;
  }
});

// Live status: while some task is pending or processing, the page refreshes itself.
if (document.querySelector("tr.status-pending, tr.status-processing")) {
  setTimeout(() => { if (document.getElementById("preview")?.hidden !== false) location.reload(); }, 5000);
}
