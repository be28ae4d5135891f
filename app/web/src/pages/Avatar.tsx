/** A coloured initial: the same hue for the same user everywhere. */
export function Avatar({ id, name }: { id: string; name: string }) {
  const hue = [...id].reduce((sum, c) => sum + c.charCodeAt(0), 0) % 360;
  return (
    <span className="avatar" aria-hidden="true" style={{ background: `hsl(${hue} 55% 45%)` }}>
      {name.slice(0, 1).toUpperCase()}
    </span>
  );
}
