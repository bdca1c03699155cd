// A task's stdout/stderr, read from its agent's /files/read through the scheduler
// (/ui/api/agents/<agent>/files/read): the last 64 KiB, then followed once a second.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJSON } from './api.js';

const TAIL = 64 * 1024;

export function TaskLogs({ task, frameworkId, onClose }) {
  const [file, setFile] = useState('stdout');
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState('');
  const [error, setError] = useState(null);
  const pre = useRef(null);
  const sandbox = `/frameworks/${frameworkId}/executors/${task.id}/runs/latest/${file}`;
  const base = `/ui/api/agents/${encodeURIComponent(task.slaveId)}/files/read?path=${encodeURIComponent(sandbox)}`;

  useEffect(() => {
    let stopped = false;
    let offset = null;
    let timer = null;
    setText('');
    setError(null);
    const read = async () => {
      try {
        if (offset === null) {
          const end = await getJSON(`${base}&offset=-1`);
          offset = Math.max(0, end.offset - TAIL);
        }
        for (;;) {
          const chunk = await getJSON(`${base}&offset=${offset}&length=${TAIL}`);
          if (stopped) return;
          if (chunk.data) setText((t) => (t + chunk.data).slice(-4 * TAIL));
          const next = chunk.offset + (chunk.data ? new TextEncoder().encode(chunk.data).length : 0);
          if (!chunk.data || next <= offset) { offset = Math.max(offset, chunk.offset); break; }
          offset = next;
        }
        setError(null);
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (!stopped && follow) timer = setTimeout(read, 1000);
    };
    read();
    return () => { stopped = true; clearTimeout(timer); };
  }, [base, follow]);

  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text, follow]);

  return (
    <div class="logs" data-testid="task-logs">
      <div class="logs-head">
        <strong>{task.id}</strong>
        <span class="tabs small">
          {['stdout', 'stderr'].map((f) => (
            <button key={f} class={f === file ? 'active' : ''} onClick={() => setFile(f)}>{f}</button>
          ))}
        </span>
        <label class="check"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> follow</label>
        <button onClick={onClose}>Close</button>
      </div>
      {error && <div class="notice error">{error.message}</div>}
      <pre ref={pre} data-testid="log-text">{text || (error ? '' : '(empty)')}</pre>
    </div>
  );
}
