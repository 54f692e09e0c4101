/**
 * How a path names an array element. By default by its index as sent (`body.messages[2]`); when
 * the element aligner (elements.ts) had to match elements across runs, by its position in the
 * union of the runs' arrays (still `[k]`), or, for an array of named objects (tools), by name:
 * `body.tools[name=Bash]`, `body.tools[name="web.search"]` when the name is not a plain word.
 */
const PLAIN_NAME = /^[\w-]+$/;

export function nameSegment(name: string): string {
  return `[name=${PLAIN_NAME.test(name) ? name : JSON.stringify(name)}]`;
}

const ELEMENT = /\[(?:\d+|name=(?:[\w-]+|"(?:[^"\\]|\\.)*"))\]/g;

/**
 * The path with every element blurred, for matching "the same field" across requests, runs and
 * versions: body.messages[3].content[0].text and body.tools[name=Bash].description become
 * body.messages[].content[].text and body.tools[].description.
 */
export function pathShape(path: string): string {
  return path.replace(ELEMENT, '[]');
}
