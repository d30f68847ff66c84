// The console's behaviour: task actions through the JSON API, and the image preview.

// Sends a JSON request to the back office's API and shows its message; with `reload`, the page
// reloads after a success.
async function sendJson(method, path, body, reload = false) {
  const answer = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const reply = await answer.json().catch(() => ({}));
  document.getElementById("flash").textContent = reply.message || (answer.ok ? "OK" : `HTTP ${answer.status}`);
  if (answer.ok && reload) setTimeout(() => location.reload(), 600);
  return { ok: answer.ok, reply };
}

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
    await sendJson("PUT", "/admin/ai/api/config", config, true);
  });
}

// Provider channels: test, add, edit, enable or disable, delete, through the JSON API.
const channelForm = document.getElementById("channel-form");
const CHANNEL_FIELDS = ["name", "type", "baseUrl", "priority", "weight", "maxConcurrent", "enabled"];
const CREDENTIALS = { runninghub: ["apiKey"], evolink: ["apiKey"], seedance: ["apiKey"], jimeng: ["sessionId"], meitu: ["accessKey", "secretKey"], yunxiu: ["apiKey", "apiSecret"] };

function showCredentials() {
  const wanted = CREDENTIALS[channelForm.elements.type.value] || [];
  for (const label of channelForm.querySelectorAll("label.credential")) {
    label.hidden = !wanted.includes(label.dataset.credential);
  }
}

function openChannelForm(settings) {
  const editing = settings !== null;
  const values = settings || { type: "comfyui", priority: 0, enabled: true };
  channelForm.dataset.editing = editing ? values.name : "";
  channelForm.elements.name.value = values.name || "";
  channelForm.elements.name.readOnly = editing;
  channelForm.elements.type.value = values.type;
  channelForm.elements.baseUrl.value = values.baseUrl || "";
  channelForm.elements.priority.value = values.priority ?? 0;
  channelForm.elements.weight.value = values.weight ?? "";
  channelForm.elements.maxConcurrent.value = values.maxConcurrent ?? "";
  channelForm.elements.enabled.checked = values.enabled !== false;
  const other = {};
  for (const [key, value] of Object.entries(values)) {
    if (!CHANNEL_FIELDS.includes(key) && !channelForm.querySelector(`label[data-credential="${key}"]`)) other[key] = value;
  }
  channelForm.elements.other.value = JSON.stringify(other, null, 2);
  for (const label of channelForm.querySelectorAll("label.credential")) label.querySelector("input").value = "";
  showCredentials();
  channelForm.hidden = false;
  channelForm.scrollIntoView();
}

function channelCall(method, path, body) {
  return sendJson(method, `/admin/ai-provider/api/configs${path}`, body);
}

if (document.getElementById("channels")) {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-channel-action]");
    if (!button) return;
    const id = button.dataset.channelId;
    const row = id ? document.querySelector(`tr[data-channel="${CSS.escape(id)}"]`) : null;
    const settings = row && row.dataset.settings ? JSON.parse(row.dataset.settings) : null;
    switch (button.dataset.channelAction) {
      case "add": return openChannelForm(null);
      case "edit": return openChannelForm(settings);
      case "cancel": channelForm.hidden = true; return;
      case "test": {
        button.disabled = true;
        const { ok, reply } = await channelCall("POST", `/${encodeURIComponent(id)}/test`);
        button.disabled = false;
        if (!ok) return;
        const test = reply.data;
        const probe = document.getElementById("probe");
        probe.textContent = `${test.ok ? "✔ 连接正常 connected" : "✘ 连接失败 failed"} · ${test.latency_ms} ms` +
          `${test.status ? ` · HTTP ${test.status}` : ""}\n${test.answer}`;
        probe.hidden = false;
        return;
      }
      case "toggle": {
        const { ok } = await channelCall("PUT", `/${encodeURIComponent(id)}`, { ...settings, enabled: settings.enabled === false });
        if (ok) setTimeout(() => location.reload(), 600);
        return;
      }
      case "delete": {
        if (!confirm(`删除通道 ${id}? Delete channel ${id}?`)) return;
        const { ok } = await channelCall("DELETE", `/${encodeURIComponent(id)}`);
        if (ok) setTimeout(() => location.reload(), 600);
        return;
      }
    }
  });
}

if (channelForm) {
  channelForm.elements.type.addEventListener("change", showCredentials);
  channelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    let channel;
    try {
      channel = JSON.parse(channelForm.elements.other.value || "{}");
    } catch (error) {
      document.getElementById("flash").textContent = `其他设置不是 JSON · Other settings: ${error.message}`;
      return;
    }
    const elements = channelForm.elements;
    Object.assign(channel, { name: elements.name.value, type: elements.type.value, baseUrl: elements.baseUrl.value,
      priority: Number(elements.priority.value || 0), enabled: elements.enabled.checked });
    if (elements.weight.value !== "") channel.weight = Number(elements.weight.value);
    if (elements.maxConcurrent.value !== "") channel.maxConcurrent = Number(elements.maxConcurrent.value);
    for (const label of channelForm.querySelectorAll("label.credential")) {
      const input = label.querySelector("input");
      if (!label.hidden && input.value !== "") channel[label.dataset.credential] = input.value;
    }
    const editing = channelForm.dataset.editing;
    const { ok } = editing
      ? await channelCall("PUT", `/${encodeURIComponent(editing)}`, channel)
      : await channelCall("POST", "", channel);
    if (ok) setTimeout(() => location.reload(), 600);
  });
}

// The Meitu config: what is filled is saved; a blank key or secret keeps the stored one.
const meituForm = document.getElementById("meitu-config");
if (meituForm) {
  meituForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const elements = meituForm.elements;
    const config = { api_base_url: elements.api_base_url.value, api_endpoint: elements.api_endpoint.value,
      repost_url: elements.repost_url.value, is_active: elements.is_active.checked,
      enable_in_workflow: elements.enable_in_workflow.checked };
    if (elements.api_key.value !== "") config.api_key = elements.api_key.value;
    if (elements.api_secret.value !== "") config.api_secret = elements.api_secret.value;
    await sendJson("POST", "/admin/meitu/api/config", config, true);
  });
}

// Meitu presets and the style catalog: each form adds through the JSON API, then the page reloads.

const catalogForms = {
  "preset-form": (e) => {
    const preset = { preset_id: e.preset_id.value, preset_name: e.preset_name.value };
    if (e.mapping.value === "image") preset.style_image_id = Number(e.style_image_id.value);
    else preset.style_category_id = Number(e.style_category_id.value);
    return ["/admin/meitu/api/presets", preset];
  },
  "category-form": (e) => ["/admin/meitu/api/style-categories",
    { name: e.name.value, code: e.code.value, ...styleDefaults(e) }],
  "image-form": (e) => ["/admin/meitu/api/style-images", { category_id: Number(e.category_id.value),
    name: e.name.value, code: e.code.value, image_url: e.image_url.value || null, ...styleDefaults(e) }],
};
// What a job naming the style inherits; blank is none.
function styleDefaults(e) {
  return { capability: e.capability.value || null, prompt: e.prompt.value || null };
}
for (const [id, read] of Object.entries(catalogForms)) {
  const form = document.getElementById(id);
  if (!form) continue;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const [path, body] = read(form.elements);
    sendJson("POST", path, body, true);
  });
}
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-catalog-action='delete-preset']");
  if (button) sendJson("DELETE", `/admin/meitu/api/presets/${button.dataset.id}`, null, true);
});

// Meitu tasks: a recheck asks Meitu about the task's msg_id now.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-meitu-recheck]");
  if (!button) return;
  button.disabled = true;
  const { ok } = await sendJson("POST", `/admin/meitu/api/tasks/${button.dataset.meituRecheck}/recheck`, null, true);
  if (!ok) button.disabled = false;
});
