#!/usr/bin/env node
// Applies selection.json to the extracted soketi tests: every listed case becomes
// `test.skip('<name>', ...)` (jest reports it as skipped). Each name must be found exactly
// once, as the first argument of `test(`, `it(` or `Utils.shouldRun(...)(`, else this fails
// (the selection is stale for that soketi commit).
// Usage: node apply-selection.js selection.json TESTS_DIR GROUP   (GROUP: local | redis)
const fs = require('fs');
const path = require('path');

const [selectionFile, testsDir, group] = process.argv.slice(2);
const selection = JSON.parse(fs.readFileSync(selectionFile, 'utf8'))[group];
if (!selection) {
    console.error(`apply-selection: no group ${group} in ${selectionFile}`);
    process.exit(2);
}

let failed = false;
let skipped = 0;
for (const file of selection.files) {
    const full = path.join(testsDir, file);
    if (!fs.existsSync(full)) {
        console.error(`apply-selection: ${file} is not in this soketi commit`);
        failed = true;
        continue;
    }
    let text = fs.readFileSync(full, 'utf8');
    for (const [name, reason] of Object.entries((selection.skip || {})[file] || {})) {
        const hits = [];
        for (const quote of ["'", '"', '`']) {
            const literal = quote + name + quote;
            let at = text.indexOf(literal);
            while (at !== -1) {
                hits.push([at, literal]);
                at = text.indexOf(literal, at + 1);
            }
        }
        if (hits.length !== 1) {
            console.error(`apply-selection: ${file}: expected 1 test named ${JSON.stringify(name)}, found ${hits.length}`);
            failed = true;
            continue;
        }
        const [at] = hits[0];
        const lineStart = text.lastIndexOf('\n', at) + 1;
        const head = text.slice(lineStart, at);
        const m = head.match(/^(\s*)(test|it|Utils\.shouldRun\(.*\))\($/);
        if (!m) {
            console.error(`apply-selection: ${file}: ${JSON.stringify(name)} is not a test declaration (${head.trim()})`);
            failed = true;
            continue;
        }
        text = text.slice(0, lineStart) + m[1] + 'test.skip(' + text.slice(at);
        skipped++;
        if (!reason) {
            console.error(`apply-selection: ${file}: ${JSON.stringify(name)} has no reason`);
            failed = true;
        }
    }
    fs.writeFileSync(full, text);
}
if (failed) {
    process.exit(1);
}
console.log(`selection ${group}: ${selection.files.length} files, ${skipped} cases skipped`);
