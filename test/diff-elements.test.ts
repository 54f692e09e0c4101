import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Aligner } from '../src/diff/align.js';
import { pathShape } from '../src/diff/element-path.js';
import { matchExpected } from '../src/diff/expect.js';
import { diffRunDir } from '../src/diff/index.js';
import { makeExchange, makeRunDir, removeRunDirs } from './fixtures/diff/make-run.js';

afterAll(removeRunDirs);

/** The body fields of one request sent once per run (run ids r1, r2, … in order), after alignment. */
function aligned(bodies: unknown[]): Array<Map<string, string>> {
  const aligner = new Aligner();
  bodies.forEach((body, i) => aligner.add(`r${i + 1}`, [makeExchange({ body }, 1, `r${i + 1}`)]));
  const requests = [...aligner.finish().values()];
  expect(requests).toHaveLength(1);
  return [...requests[0]!.runs.values()].map((f) => new Map([...f].filter(([p]) => p.startsWith('body'))));
}

const tool = (name: string, description = `The ${name} tool.`) => ({ name, description, input_schema: { type: 'object' } });
const user = (...texts: string[]) => ({ role: 'user', content: texts.map((text) => ({ type: 'text', text })) });
const assistant = (text: string) => ({ role: 'assistant', content: [{ type: 'text', text }] });
const request = (extra: Record<string, unknown>) => ({ model: 'claude-sonnet-4-5', max_tokens: 1024, ...extra });

interface Case {
  name: string;
  bodies: unknown[];
  /** path → the value each run holds there (undefined: the run has no such field). */
  expect: Record<string, Array<string | undefined>>;
  /** Paths no run may hold after alignment. */
  absent?: string[];
}

const CASES: Case[] = [
  {
    name: 'equal shapes stay by index, nothing renamed',
    bodies: [
      request({ tools: [tool('Bash'), tool('Read')], messages: [user('hi')] }),
      request({ tools: [tool('Bash', 'Runs sh.'), tool('Read')], messages: [user('ho')] }),
    ],
    expect: {
      'body.tools[0].description': ['The Bash tool.', 'Runs sh.'],
      'body.tools[1].name': ['Read', 'Read'],
      'body.messages[0].content[0].text': ['hi', 'ho'],
    },
    absent: ['body.tools{keys}', 'body.tools[name=Bash].name'],
  },
  {
    name: 'a tool added in front: tools meet by name, the names in order become {keys}',
    bodies: [
      request({ tools: [tool('Bash'), tool('Read')] }),
      request({ tools: [tool('Glob'), tool('Bash'), tool('Read', 'Reads a\u200b file.')] }),
    ],
    expect: {
      'body.tools[name=Read].description': ['The Read tool.', 'Reads a\u200b file.'],
      'body.tools[name=Bash].name': ['Bash', 'Bash'],
      'body.tools[name=Glob].name': [undefined, 'Glob'],
      'body.tools{keys}': ['Bash,Read', 'Glob,Bash,Read'],
    },
    absent: ['body.tools[0].name', 'body.tools[1].description'],
  },
  {
    name: 'tools in another order: same paths, the order compared in {keys}',
    bodies: [request({ tools: [tool('Bash'), tool('Read'), tool('LS')] }), request({ tools: [tool('LS'), tool('Bash'), tool('Read')] })],
    expect: {
      'body.tools[name=LS].description': ['The LS tool.', 'The LS tool.'],
      'body.tools{keys}': ['Bash,Read,LS', 'LS,Bash,Read'],
    },
  },
  {
    name: 'OpenAI tools meet by function.name',
    bodies: [
      request({ tools: [{ type: 'function', function: { name: 'shell', description: 'a' } }] }),
      request({
        tools: [
          { type: 'function', function: { name: 'web.search', description: 'w' } },
          { type: 'function', function: { name: 'shell', description: 'b' } },
        ],
      }),
    ],
    expect: {
      'body.tools[name=shell].function.description': ['a', 'b'],
      'body.tools[name="web.search"].function.name': [undefined, 'web.search'],
    },
  },
  {
    name: 'Gemini functionDeclarations meet by name inside the tools element',
    bodies: [
      { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], tools: [{ functionDeclarations: [{ name: 'read_file', description: 'r' }] }] },
      {
        contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
        tools: [{ functionDeclarations: [{ name: 'glob', description: 'g' }, { name: 'read_file', description: 'r2' }] }],
      },
    ],
    expect: {
      'body.tools[0].functionDeclarations[name=read_file].description': ['r', 'r2'],
      'body.tools[0].functionDeclarations[name=glob].name': [undefined, 'glob'],
    },
  },
  {
    name: 'a message added in front: later messages keep their path (numbered in the union of the runs)',
    bodies: [
      request({ messages: [user('Say hi.'), assistant('Hi.'), user('Thanks.')] }),
      request({ messages: [{ role: 'user', content: '<deferred-tools>' }, user('Say hi.'), assistant('Hi!'), user('Thanks.')] }),
    ],
    expect: {
      'body.messages[0].content': [undefined, '<deferred-tools>'],
      'body.messages[1].content[0].text': ['Say hi.', 'Say hi.'],
      'body.messages[2].content[0].text': ['Hi.', 'Hi!'],
      'body.messages[3].content[0].text': ['Thanks.', 'Thanks.'],
    },
  },
  {
    name: 'the first run has the extra message: the union is that run, the other run is renumbered',
    bodies: [
      request({ messages: [{ role: 'user', content: '<deferred-tools>' }, user('Say hi.'), assistant('Hi.')] }),
      request({ messages: [user('Say hi.'), assistant('Hi.')] }),
    ],
    expect: {
      'body.messages[0].content': ['<deferred-tools>', undefined],
      'body.messages[1].content[0].text': ['Say hi.', 'Say hi.'],
      'body.messages[2].role': ['assistant', 'assistant'],
    },
  },
  {
    name: 'a content block added in the middle, inside a message that also moved',
    bodies: [
      request({ messages: [user('<reminder>skills</reminder>', "Today's date is 2026-07-01.", 'Say hi.')] }),
      request({
        messages: [
          { role: 'user', content: '<deferred-tools>' },
          user('<reminder>skills</reminder>', '<reminder>context</reminder>', "Today's date is 2026/07/01.", 'Say hi.'),
        ],
      }),
    ],
    expect: {
      'body.messages[1].content[0].text': ['<reminder>skills</reminder>', '<reminder>skills</reminder>'],
      'body.messages[1].content[1].text': [undefined, '<reminder>context</reminder>'],
      'body.messages[1].content[2].text': ["Today's date is 2026-07-01.", "Today's date is 2026/07/01."],
      'body.messages[1].content[3].text': ['Say hi.', 'Say hi.'],
    },
  },
  {
    name: 'system blocks of another layout: the long prompt block meets its counterpart',
    bodies: [
      request({ system: [{ type: 'text', text: 'You are Claude Code.' }, { type: 'text', text: `${'Be careful. '.repeat(50)}Date 2026-07-01` }] }),
      request({
        system: [
          { type: 'text', text: 'x-billing-header: cc_version=1' },
          { type: 'text', text: 'You are Claude Code.' },
          { type: 'text', text: `${'Be careful. '.repeat(50)}Date 2026/07/01` },
        ],
      }),
    ],
    expect: {
      'body.system[0].text': [undefined, 'x-billing-header: cc_version=1'],
      'body.system[1].text': ['You are Claude Code.', 'You are Claude Code.'],
      'body.system[2].text': [`${'Be careful. '.repeat(50)}Date 2026-07-01`, `${'Be careful. '.repeat(50)}Date 2026/07/01`],
    },
  },
  {
    name: 'elements of another role or block type are never paired',
    bodies: [request({ messages: [user('a'), assistant('b')] }), request({ messages: [assistant('z'), user('a'), assistant('b')] })],
    expect: {
      'body.messages[0].role': [undefined, 'assistant'],
      'body.messages[0].content[0].text': [undefined, 'z'],
      'body.messages[1].content[0].text': ['a', 'a'],
      'body.messages[2].content[0].text': ['b', 'b'],
    },
  },
  {
    name: 'a name twice in one run: matched by signature, not by name',
    bodies: [request({ tools: [tool('Bash'), tool('Bash', 'again')] }), request({ tools: [tool('Glob'), tool('Bash'), tool('Bash', 'again')] })],
    expect: {
      'body.tools[0].name': [undefined, 'Glob'],
      'body.tools[1].description': ['The Bash tool.', 'The Bash tool.'],
      'body.tools[2].description': ['again', 'again'],
    },
    absent: ['body.tools{keys}'],
  },
  {
    name: 'arrays of strings: an inserted value shifts nothing',
    bodies: [
      request({ tools: [{ name: 'Bash', input_schema: { required: ['command', 'timeout'] } }] }),
      request({ tools: [{ name: 'Bash', input_schema: { required: ['description', 'command', 'timeout'] } }] }),
    ],
    expect: {
      'body.tools[0].input_schema.required[0]': [undefined, 'description'],
      'body.tools[0].input_schema.required[1]': ['command', 'command'],
      'body.tools[0].input_schema.required[2]': ['timeout', 'timeout'],
    },
  },
  {
    name: 'three runs: each run meets the union of the runs before it',
    bodies: [
      request({ messages: [user('a'), assistant('b')] }),
      request({ messages: [{ role: 'user', content: 'x' }, user('a'), assistant('b')] }),
      request({ messages: [user('a'), { role: 'user', content: 'y' }, assistant('b')] }),
    ],
    expect: {
      'body.messages[0].content': [undefined, 'x', undefined],
      'body.messages[1].content[0].text': ['a', 'a', 'a'],
      'body.messages[2].content': [undefined, undefined, 'y'],
      'body.messages[3].role': ['assistant', 'assistant', 'assistant'],
    },
  },
  {
    name: 'named elements in another order with new ones between: each new name after its run\'s previous element',
    bodies: [request({ tools: [tool('A'), tool('B'), tool('C')] }), request({ tools: [tool('C'), tool('X'), tool('A'), tool('Y')] })],
    expect: {
      'body.tools[name=X].name': [undefined, 'X'],
      'body.tools[name=Y].name': [undefined, 'Y'],
      'body.tools[name=B].name': ['B', undefined],
      'body.tools{keys}': ['A,B,C', 'C,X,A,Y'],
    },
  },
  {
    name: 'arrays too long for the quadratic alignment are matched by position',
    bodies: [
      { items: Array.from({ length: 1001 }, (_, i) => `v${i}`) },
      { items: ['new', ...Array.from({ length: 1001 }, (_, i) => `v${i}`)] },
    ],
    expect: {
      'body.items[0]': ['v0', 'new'],
      'body.items[1001]': [undefined, 'v1000'],
    },
  },
];

describe('array elements aligned across runs', () => {
  it.each(CASES)('$name', ({ bodies, expect: want, absent = [] }) => {
    const runs = aligned(bodies);
    for (const [path, values] of Object.entries(want)) {
      expect(
        runs.map((f) => f.get(path)),
        path,
      ).toEqual(values);
    }
    for (const path of absent) expect(runs.some((f) => f.has(path)), path).toBe(false);
    // Every field of every run is still there, once; the only fields added are an array's {keys}.
    runs.forEach((f, i) => {
      const values = (m: Map<string, string>) => [...m].filter(([p]) => !p.endsWith('{keys}')).map(([, v]) => v).sort();
      const flat = aligned([bodies[i]])[0]!;
      expect(values(f), `run ${i + 1}`).toEqual(values(flat));
      const keys = (m: Map<string, string>) => [...m].filter(([p]) => p.endsWith('{keys}')).map(([, v]) => v);
      expect(keys(f), `run ${i + 1}`).toEqual(expect.arrayContaining(keys(flat)));
    });
  });

  it('a request sent in one run only is left as it is', () => {
    const [only] = aligned([request({ tools: [tool('Bash')] })]);
    expect(only!.get('body.tools[0].name')).toBe('Bash');
  });

  it('pathShape blurs indices and names alike', () => {
    expect(pathShape('body.messages[3].content[0].text')).toBe('body.messages[].content[].text');
    expect(pathShape('body.tools[name=Bash].description')).toBe('body.tools[].description');
    expect(pathShape('body.tools[name="web.search"].function.name')).toBe('body.tools[].function.name');
    expect(pathShape('body["name=x"]')).toBe('body["name=x"]');
  });

  it('an expect rule matches a named element with * as it matches an index', () => {
    for (const path of ['body.tools[2].description', 'body.tools[name=Bash].description']) {
      expect(matchExpected([{ path: 'body.tools[*].description', axis: 'A' }], path, ['A']), path).not.toBeNull();
    }
  });
});

describe('diffRunDir with shifted elements', () => {
  const AXES = { TZ: ['UTC', 'Asia/Shanghai'], BASE: ['first', 'third'] };

  /** First-party cells get an extra tool and an extra message in front; the date needs TZ and a third-party base. */
  function body(tz: string, base: string): unknown {
    const firstParty = base === 'first';
    const date = tz === 'Asia/Shanghai' && !firstParty ? '2026/07/01' : '2026-07-01';
    return request({
      system: [{ type: 'text', text: `You are an agent. Session ${randomUUID()}.` }],
      tools: [...(firstParty ? [tool('ToolSearch')] : []), tool('Bash'), tool('Read')],
      messages: [
        ...(firstParty ? [{ role: 'user', content: '<available-deferred-tools>\nWebFetch\n</available-deferred-tools>' }] : []),
        user(`<system-reminder>\n# currentDate\nToday's date is ${date}.\n</system-reminder>`, 'Say hi.'),
      ],
    });
  }

  it('reports the extra elements as presence by BASE and the date as TZ × BASE, nothing else', async () => {
    const dir = await makeRunDir({ axes: AXES, reps: 2, exchanges: (cell) => [{ body: body(cell.values.TZ!, cell.values.BASE!) }] });
    const f = await diffRunDir(dir);
    const got = f.findings.map((x) => `${x.class} ${x.location.path} by ${x.attribution.axes.join(' × ')}`).sort();
    expect(got).toEqual([
      'field-presence body.messages[0] by BASE',
      'field-presence body.tools[name=ToolSearch] by BASE',
      'format-change body.messages[1].content[0].text by TZ × BASE',
    ]);
    const date = f.findings.find((x) => x.class === 'format-change')!;
    const odd = date.attribution.groups.find((g) => !g.baseline)!;
    expect(odd.combos).toEqual([{ TZ: 'Asia/Shanghai', BASE: 'third' }]);
    expect(odd.changes.map((c) => c.after)).toEqual(['/', '/']);
  });
});

describe('requests of a conversation with an extra leading message', () => {
  it('turn k meets turn k (repeated roles folded), and the extra message is one presence change in every turn', async () => {
    const turns = (extra: boolean, tz: string) => {
      const history: unknown[] = [...(extra ? [{ role: 'user', content: '<available-deferred-tools>\nWebFetch\n</available-deferred-tools>' }] : []), user('Run it.')];
      const out = [];
      for (let k = 0; k < 3; k++) {
        out.push({ body: request({ system: 'You are an agent.', tools: [...(extra ? [tool('ToolSearch')] : []), tool('Bash')], messages: structuredClone(history) }) });
        history.push({ role: 'assistant', content: [{ type: 'tool_use', id: `t${k}`, name: 'Bash', input: { command: `step ${k} with a longer command line` } }] });
        const wrap = tz === 'Asia/Shanghai' ? '<stdout >' : '<stdout>';
        history.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${k}`, content: `${wrap}output of step ${k}, which is long enough to weigh on the size</stdout>` }] });
      }
      return out;
    };
    const dir = await makeRunDir({ axes: { TZ: ['UTC', 'Asia/Shanghai'], BASE: ['first', 'third'] }, reps: 2, exchanges: (cell) => turns(cell.values.BASE === 'first', cell.values.TZ!) });
    const f = await diffRunDir(dir);
    expect(f.summary.alignedRequests).toBe(3);
    const got = f.findings.map((x) => `${x.class} ${x.location.path} by ${x.attribution.axes.join(' × ')} in ${x.locations.map((l) => l.ordinal).join(',')}`);
    expect(got.sort()).toEqual([
      'field-presence body.messages[0] by BASE in 1,2,3',
      'field-presence body.tools[name=ToolSearch] by BASE in 1,2,3',
      // Both tool results carry the same change: one finding, three places.
      'whitespace-lookalike body.messages[3].content[0].content by TZ in 2,3,3',
    ]);
    const wrap = f.findings.find((x) => x.class === 'whitespace-lookalike')!;
    expect(wrap.locations.map((l) => `#${l.ordinal} ${l.path}`)).toEqual([
      '#2 body.messages[3].content[0].content',
      '#3 body.messages[3].content[0].content',
      '#3 body.messages[5].content[0].content',
    ]);
  });
});
