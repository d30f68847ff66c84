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

// The playground: upload the chosen files, submit the job, then watch it until it ends.
const playground = document.getElementById("playground");
if (playground) {
  const capability = document.getElementById("pg-capability");
  const showFields = () => {
    for (const set of playground.querySelectorAll("fieldset[data-for]")) {
      set.hidden = set.dataset.for !== capability.value;
    }
  };
  capability.addEventListener("change", showFields);
  showFields();

  const api = async (path, options) => {
    const answer = await fetch(path, { credentials: "same-origin", ...options });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(body.message || `HTTP ${answer.status}`);
    return body.data;
  };

  const watch = async (id) => {
    const task = await api(`/admin/ai/api/tasks/${id}`);
    document.getElementById("pg-status").textContent = task.status_text;
    document.getElementById("pg-progress").value = task.progress;
    document.getElementById("pg-error").textContent = task.error_message || "";
    const outputs = document.getElementById("pg-outputs");
    if (task.output_files.length && !outputs.childElementCount) {
      for (const file of task.output_files) {
        const media = document.createElement(file.kind === "video" ? "video" : "img");
        media.src = file.url;
        media.className = "thumb output large";
        if (file.kind === "video") media.controls = true;
        outputs.append(media);
      }
    }
    if (task.status === "pending" || task.status === "processing") setTimeout(() => watch(id), 1000);
  };

  playground.addEventListener("submit", async (event) => {
    event.preventDefault();
    const flash = document.getElementById("flash");
    const form = new FormData(playground);
    const body = { capability: capability.value };
    const text = (name) => (form.get(name) || "").toString().trim();
    if (text("prompt")) body.prompt = text("prompt");
    if (text("orderNumber")) body.orderNumber = text("orderNumber");
    const urls = text("imageUrls").split(/\s+/).filter(Boolean);
    if (urls.length) body.imageUrls = urls;
    if (capability.value === "image.generate") {
      body.width = Number(text("width"));
      body.height = Number(text("height"));
    } else if (capability.value === "image.upscale") {
      body.resolution = text("resolution");
    } else if (capability.value === "video.generate") {
      body.settings = { ratio: text("ratio"), duration: Number(text("duration")) };
    }
    try {
      const files = document.getElementById("pg-files").files;
      if (files.length) {
        const upload = new FormData();
        for (const file of files) upload.append("files", file);
        const stored = await api("/admin/playground/api/files", { method: "POST", body: upload });
        body.inputAssetIds = stored.map((file) => file.asset_id);
      }
      const task = await api("/admin/playground/api/run", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      flash.textContent = "";
      document.getElementById("pg-result").hidden = false;
      document.getElementById("pg-outputs").replaceChildren();
      const link = document.getElementById("pg-task-link");
      link.textContent = task.task_id;
      link.href = `/admin/ai/api/tasks/${task.task_id}`;
      watch(task.task_id);
    } catch (error) {
      flash.textContent = error.message;
    }
  });
}

// The AI config form: the filled fields, as numbers, replace the config.
const configForm = document.getElementById("ai-config");
if (configForm) {
  configForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Start from the stored config, so what this form does not show (seed 003's presets) stays.
    const current = await fetch("/admin/ai/api/config", { credentials: "same-origin" }).then((r) => r.json());
    const config = current.data ? current.data.config : {};
    for (const input of configForm.querySelectorAll("input[name]")) {
      if (input.value.trim() === "") delete config[input.name];
      else config[input.name] = Number(input.value);
    }
    const answer = await fetch("/admin/ai/api/config", {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(config),
    });
    const body = await answer.json().catch(() => ({}));
    document.getElementById("flash").textContent = body.message || `HTTP ${answer.status}`;
    if (answer.ok) setTimeout(() => location.reload(), 600);
  });
}
