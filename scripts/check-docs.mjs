// Checks every relative link in README.md and docs/**/*.md: the file it names exists and,
// when it has a #fragment into Markdown, the heading does (GitHub's anchors). Run by the
// test command (scripts/check-docs.sh); prints each broken link and exits 1 if any.
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function markdownFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith(".md") ? [path] : [];
  });
}

// Text outside fenced code blocks and inline code, where links are links.
function prose(text) {
  return text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "")
    .replace(/`[^`\n]*`/g, "");
}

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, and
// -1, -2… for repeats.
function anchors(text) {
  const seen = new Map();
  const found = new Set();
  for (const line of text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").split("\n")) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const plain = heading[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/<[^>]+>/g, "")
      .replace(/[*_`]/g, (c) => (c === "_" ? "_" : ""));
    let slug = plain.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

const files = [join(root, "README.md"), ...markdownFiles(join(root, "docs"))];
const anchorsOf = new Map();
const anchorsFor = (path) => {
  if (!anchorsOf.has(path)) anchorsOf.set(path, anchors(readFileSync(path, "utf8")));
  return anchorsOf.get(path);
};

let broken = 0;
let checked = 0;
for (const file of files) {
  const text = prose(readFileSync(file, "utf8"));
  for (const match of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:…
    checked += 1;
    const [path, fragment] = target.split("#", 2);
    const resolved = path === "" ? file : resolve(dirname(file), decodeURIComponent(path));
    const where = relative(root, file);
    if (!existsSync(resolved)) {
      console.log(`${where}: ${target}: no such file`);
      broken += 1;
    } else if (fragment !== undefined && resolved.endsWith(".md") && !anchorsFor(resolved).has(fragment)) {
      console.log(`${where}: ${target}: no heading with this anchor in ${relative(root, resolved)}`);
      broken += 1;
    }
  }
}
console.log(`${checked} links in ${files.length} files checked, ${broken} broken`);
process.exit(broken === 0 ? 0 : 1);
