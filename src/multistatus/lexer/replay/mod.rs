//! Replay of the repeating entry shape: a multistatus repeats the same tags entry after
//! entry, with only the text between them differing. Each `DAV:response` that opens in the
//! skim is an *anchor*; the tags read after it, up to its end tag, are kept as a trie of the
//! sequences seen (`Trie`): each node holds one tag's bytes and what reading it did (the
//! role it opened, the property or error child it reported, the end tag it matched). At the
//! next anchor, a tag byte-identical to a child of the current node is replayed from the
//! node instead of being read: no name check, no lookup, no resolution.
//!
//! Why that is exact: what a tag does depends only on its bytes and on the lexer state
//! before it (open elements with their names and roles, declarations in scope, elements past
//! the name stack, the captured element), never on the text between tags (text only feeds
//! the captured href, status or description, which stays live here). The trie is kept for
//! one anchor state (`Key`: frames, names, declarations by serial and depth, `shadow`); a
//! new anchor state clears it. So two walks from equal anchor states through the same tag
//! bytes pass through equal states, and a node's effect is the effect. What is replayed is
//! the same code as reading (`Lexer::open`, `Lexer::end_tag`); what a tag reported to the
//! sink while it resolved (a property, an error's first child), the role it got, a flag it
//! set on its parent and an unbound prefix counted are recorded once, as the tag is read
//! the ordinary way, through a `Recorder` sink. Only tags that reading leaves in `Text`,
//! with no attribute, no `<!`/`<?`, are recorded; an empty element with attributes (a
//! declaring property, as Nextcloud writes one per entry) is kept as a node the walk reads
//! the ordinary way every time (`Kind::Read`, `Lexer::read_whole`); anything else (a tag that matches no
//! child and cannot be learnt, a reference the skim leaves, the chunk's end) ends the walk
//! and the skim goes on as if it had never started.
//!
//! Bounded: `NODES` nodes, `ARENA` bytes of tags and names, `CHILDREN` children a node,
//! `RESETS` new anchor states a body; past them nothing more is learnt.
//!
//! Layout, one concern per file: `trie` (the nodes, their compare and the bounds), `anchor`
//! (the state the trie holds for), `walk` (replaying from the trie), `ops` (replaying one
//! node, by the shape of what it did), `runs` (tags with no text between them, replayed as
//! one), `learn` (reading a tag the ordinary way and recording what it did).

mod anchor;
mod learn;
mod ops;
mod runs;
mod trie;
mod walk;

pub(super) use trie::Trie;
