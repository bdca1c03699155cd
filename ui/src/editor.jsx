// A JSON editor (CodeMirror) that shows the 422 `details` of a rejected definition at their
// fields: the field is marked and its messages follow its line, until the text changes.
import { useEffect, useRef } from 'preact/hooks';
import { EditorView, basicSetup } from 'codemirror';
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { linter, lintGutter } from '@codemirror/lint';
import { StateEffect, StateField } from '@codemirror/state';
import { Decoration, WidgetType } from '@codemirror/view';
import { locate } from './paths.js';

class MessageWidget extends WidgetType {
  constructor(text) { super(); this.text = text; }
  eq(other) { return other.text === this.text; }
  toDOM() {
    const span = document.createElement('span');
    span.className = 'cm-field-problem';
    span.setAttribute('data-testid', 'field-problem');
    span.textContent = this.text;
    return span;
  }
}

const setProblems = StateEffect.define();

const problemsField = StateField.define({
  create: () => Decoration.none,
  update(decorations, tr) {
    for (const effect of tr.effects) if (effect.is(setProblems)) return effect.value;
    return tr.docChanged ? Decoration.none : decorations;
  },
  provide: (field) => EditorView.decorations.from(field),
});

function decorationsFor(doc, problems) {
  const text = doc.toString();
  const ranges = [];
  for (const problem of problems) {
    const at = locate(text, problem.path) || { from: 0, to: Math.min(1, doc.length), exact: false };
    const line = doc.lineAt(at.from);
    const label = `${at.exact ? '' : problem.path + ': '}${problem.errors.join('; ')}`;
    if (at.to > at.from) ranges.push(Decoration.mark({ class: 'cm-problem', attributes: { 'data-path': problem.path } }).range(at.from, at.to));
    ranges.push(Decoration.widget({ widget: new MessageWidget(label), side: 1 }).range(line.to));
  }
  return Decoration.set(ranges, true);
}

/**
 * The editor. `editor.current` is given `{ text() }`; `problems` are 422 details
 * (`[{ path, errors }]`), shown at their fields.
 */
export function JsonEditor({ initial, editor, problems }) {
  const host = useRef(null);
  const view = useRef(null);
  useEffect(() => {
    view.current = new EditorView({
      doc: initial,
      parent: host.current,
      extensions: [basicSetup, json(), lintGutter(), linter(jsonParseLinter()), problemsField, EditorView.lineWrapping],
    });
    if (editor) editor.current = { text: () => view.current.state.doc.toString() };
    return () => view.current.destroy();
  }, []);
  useEffect(() => {
    const v = view.current;
    if (v) v.dispatch({ effects: setProblems.of(decorationsFor(v.state.doc, problems || [])) });
  }, [problems]);
  return <div class="json-editor" ref={host} data-testid="editor" />;
}
