// A small, safe Markdown renderer: it builds DOM nodes and sets only textContent and a
// vetted href, so no HTML from the model (or the user) ever reaches the DOM as markup.
// Covers paragraphs, headings, fenced and indented code blocks, code spans, emphasis,
// strong, links and bare URLs (http/https only), ordered and unordered lists, quotes.

const SAFE_SCHEMES = new Set(["http:", "https:"]);

/** Return the URL if it is absolute http(s), else null. */
export function safeUrl(raw) {
  try {
    const url = new URL(raw);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(doc, href, text) {
  const a = doc.createElement("a");
  a.href = href;
  a.textContent = text;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  return a;
}

// Inline tokens, tried in this order at each position.
const INLINE = [
  { kind: "code", re: /^(`+)([\s\S]*?[^`])\1(?!`)/ },
  { kind: "link", re: /^\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?\s*\)/ },
  { kind: "url", re: /^https?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]]/ },
  { kind: "strong", re: /^\*\*(?=\S)([\s\S]*?\S)\*\*/ },
  { kind: "strong", re: /^__(?=\S)([\s\S]*?\S)__(?!\w)/ },
  { kind: "em", re: /^\*(?=[^\s*])([\s\S]*?[^\s*])\*(?!\*)/ },
  { kind: "em", re: /^_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)/ },
  { kind: "del", re: /^~~(?=\S)([\s\S]*?\S)~~/ },
];
const SPECIAL = /[`[*_~h\\]/;

/** Append the inline content of `text` to `parent`. */
export function renderInline(text, parent, depth = 0) {
  const doc = parent.ownerDocument;
  let plain = "";
  const flush = () => {
    if (plain) parent.appendChild(doc.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!~<>]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === "\n") {
      flush();
      parent.appendChild(doc.createElement("br"));
      i += 1;
      continue;
    }
    if (!SPECIAL.test(ch) || depth > 8) {
      plain += ch;
      i += 1;
      continue;
    }
    // A word character before "_" or "h" means we are inside a word: not markup.
    const prev = i > 0 ? text[i - 1] : " ";
    const rest = text.slice(i);
    let matched = false;
    for (const { kind, re } of INLINE) {
      if ((kind === "url" && /\w/.test(prev)) || (ch === "_" && /\w/.test(prev))) continue;
      const m = re.exec(rest);
      if (!m) continue;
      let node = null;
      if (kind === "code") {
        node = doc.createElement("code");
        node.textContent = m[2].replace(/^ (.*) $/s, "$1");
      } else if (kind === "link") {
        const href = safeUrl(m[2]);
        if (!href) continue; // not http(s): the brackets stay text
        node = link(doc, href, "");
        renderInline(m[1], node, depth + 1);
      } else if (kind === "url") {
        const href = safeUrl(m[0]);
        if (!href) continue;
        node = link(doc, href, m[0]);
      } else {
        node = doc.createElement(kind);
        renderInline(m[1], node, depth + 1);
      }
      flush();
      parent.appendChild(node);
      i += m[0].length;
      matched = true;
      break;
    }
    if (!matched) {
      plain += ch;
      i += 1;
    }
  }
  flush();
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^\n]*$/;
const BULLET = /^ {0,3}([-*+])\s+(.*)$/;
const ORDERED = /^ {0,3}(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;

function isBlockStart(line) {
  return FENCE.test(line) || BULLET.test(line) || ORDERED.test(line) || HEADING.test(line) || QUOTE.test(line);
}

/** Render Markdown `text` into a new DocumentFragment of `doc`. */
export function renderMarkdown(text, doc = document, depth = 0) {
  const out = doc.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence (or the end)
      const pre = doc.createElement("pre");
      const code = doc.createElement("code");
      if (fence[2]) code.dataset.lang = fence[2];
      code.textContent = body.join("\n");
      pre.appendChild(code);
      out.appendChild(pre);
      continue;
    }
    if (/^( {4}|\t)/.test(line)) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || !lines[i].trim())) body.push(lines[i++].replace(/^( {4}|\t)/, ""));
      const pre = doc.createElement("pre");
      const code = doc.createElement("code");
      code.textContent = body.join("\n").replace(/\n+$/, "");
      pre.appendChild(code);
      out.appendChild(pre);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const h = doc.createElement(`h${Math.min(6, heading[1].length + 2)}`);
      renderInline(heading[2], h, depth);
      out.appendChild(h);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      out.appendChild(doc.createElement("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line) && depth < 4) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(QUOTE.exec(lines[i++])[1]);
      const quote = doc.createElement("blockquote");
      quote.appendChild(renderMarkdown(body.join("\n"), doc, depth + 1));
      out.appendChild(quote);
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = ORDERED.exec(line);
    if ((bullet || ordered) && depth < 4) {
      const pattern = bullet ? BULLET : ORDERED;
      const list = doc.createElement(bullet ? "ul" : "ol");
      if (ordered && ordered[1] !== "1") list.start = Number(ordered[1]);
      let item = null;
      while (i < lines.length) {
        const m = pattern.exec(lines[i]);
        if (m) {
          item = [m[2]];
          list.appendChild(doc.createElement("li"))._md = item;
          i += 1;
        } else if (item && lines[i].trim() && /^\s{2,}/.test(lines[i])) {
          item.push(lines[i].trim());
          i += 1;
        } else {
          break;
        }
      }
      for (const li of list.children) {
        li.appendChild(renderMarkdown(li._md.join("\n"), doc, depth + 1));
        delete li._md;
      }
      out.appendChild(list);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !(para.length && isBlockStart(lines[i]))) para.push(lines[i++]);
    const p = doc.createElement("p");
    renderInline(para.join("\n"), p, depth);
    out.appendChild(p);
  }
  return out;
}
