import { describe, expect, it } from 'vitest';
import { EXIT, InputError, UnknownPresetError, UserError } from '../src/errors.js';
import { UsageError } from '../src/cli-support.js';
import { CaDirError } from '../src/ca/permissions.js';
import { CaptureFileError } from '../src/capture/store.js';
import { ScenarioError } from '../src/scenario/scenario-file.js';
import { CatalogueError } from '../src/scenario/factors/catalogue.js';
import { ScanSourceError } from '../src/scan/source.js';
import { AllowListError } from '../src/scan/allow.js';
import { ExplainError } from '../src/explain/probes.js';
import { AgentInstallError } from '../src/agents/install.js';
import { agentPreset } from '../src/agents/presets.js';
import { exitCodeForError } from '../src/report/exit-code.js';

describe('user errors', () => {
  // The CLI prints these as one line with exit 2 because they are UserErrors, whatever their names.
  const userErrors = { UsageError, CaDirError, CaptureFileError, ScenarioError, CatalogueError, ScanSourceError, AllowListError, ExplainError, InputError, UnknownPresetError };
  it.each(Object.entries(userErrors))('%s is a UserError, exit 2', (_, Kind) => {
    const err = new Kind('bad input');
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe('bad input');
    expect(exitCodeForError(err)).toBe(EXIT.inputError);
  });

  it('anything else is a bug (70), an agent install failure included', () => {
    expect(exitCodeForError(new Error('x'))).toBe(EXIT.internal);
    expect(exitCodeForError(new AgentInstallError('npm failed'))).toBe(EXIT.internal);
    expect(exitCodeForError('a string')).toBe(EXIT.internal);
  });

  it('keeps the names older messages and logs show', () => {
    expect(new ScanSourceError('x').name).toBe('InputError');
    expect(new ScenarioError('x').name).toBe('ScenarioError');
    expect(new UsageError('x').name).toBe('UsageError');
  });

  it('an agent install error says whether the user asked for something that does not exist', () => {
    expect(new AgentInstallError('npm failed').kind).toBe('failed');
    expect(new AgentInstallError('no such version', 'unknown').kind).toBe('unknown');
  });

  it('one preset lookup, one error kind, naming where the name came from', () => {
    expect(agentPreset('codex').name).toBe('codex');
    expect(() => agentPreset('nope', '--agent')).toThrow(UnknownPresetError);
    expect(() => agentPreset('nope', '--agent')).toThrow(/^--agent: unknown agent preset "nope" \(known: claude-code, /);
    // An inherited property is not a preset.
    expect(() => agentPreset('toString')).toThrow(UnknownPresetError);
  });
});
