//! SOAP envelopes of the vim25 API: requests are written with [`Request`] in WSDL element order
//! (vCenter validates the order; vcsim does not), answers are read into a small element tree
//! ([`Element`]) that the callers walk. Nothing here knows about strato.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::fmt::{self, Write as _};

/// Namespace of every vim25 message.
pub const VIM_NS: &str = "urn:vim25";

/// A managed object reference: `<obj type="VirtualMachine">vm-42</obj>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    /// Managed object type (`VirtualMachine`, `Folder`, `Task`, ...).
    pub kind: String,
    /// The server's id (`vm-42`).
    pub value: String,
}

impl MoRef {
    /// A reference of `kind` with id `value`.
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            value: value.into(),
        }
    }
}

impl fmt::Display for MoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// Escapes text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The body of one request, written element by element in WSDL order.
#[derive(Debug)]
pub struct Request {
    method: &'static str,
    buf: String,
    open: Vec<&'static str>,
}

impl Request {
    /// Starts `<METHOD xmlns="urn:vim25"><_this type=..>..</_this>`.
    pub fn new(method: &'static str, this: &MoRef) -> Self {
        let mut r = Self {
            method,
            buf: format!("<{method} xmlns=\"{VIM_NS}\">"),
            open: Vec::new(),
        };
        r.moref("_this", this);
        r
    }

    /// The method name (for logs).
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// `<name>value</name>`.
    pub fn text(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        let v = escape(&value.to_string());
        let _ = write!(self.buf, "<{name}>{v}</{name}>");
        self
    }

    /// `<name>value</name>` when `value` is `Some`.
    pub fn opt_text(&mut self, name: &str, value: Option<impl fmt::Display>) -> &mut Self {
        if let Some(v) = value {
            self.text(name, v);
        }
        self
    }

    /// `<name xsi:type="xsd:string">value</name>` (an `anyType` slot holding a string).
    pub fn any_string(&mut self, name: &str, value: &str) -> &mut Self {
        let _ = write!(
            self.buf,
            "<{name} xsi:type=\"xsd:string\">{}</{name}>",
            escape(value)
        );
        self
    }

    /// `<name type="KIND">value</name>`.
    pub fn moref(&mut self, name: &str, r: &MoRef) -> &mut Self {
        let _ = write!(
            self.buf,
            "<{name} type=\"{}\">{}</{name}>",
            escape(&r.kind),
            escape(&r.value)
        );
        self
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &'static str) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        self.open.push(name);
        self
    }

    /// Opens `<name xsi:type="TYPE">` (a slot of a base type holding a derived type).
    pub fn open_typed(&mut self, name: &'static str, xsi_type: &str) -> &mut Self {
        let _ = write!(self.buf, "<{name} xsi:type=\"{}\">", escape(xsi_type));
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        let name = self.open.pop().expect("close() without open()");
        let _ = write!(self.buf, "</{name}>");
        self
    }

    /// The whole SOAP envelope.
    pub fn envelope(&self) -> String {
        assert!(
            self.open.is_empty(),
            "{}: unclosed {:?}",
            self.method,
            self.open
        );
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
             <soapenv:Body>{}</{}></soapenv:Body></soapenv:Envelope>",
            self.buf, self.method
        )
    }
}

/// One element of an answer: local name, the `type` attributes, text and children.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Element {
    /// Local name (no namespace prefix).
    pub name: String,
    /// `xsi:type`, prefix removed (`VirtualVmxnet3`, `string`, `ArrayOfCustomFieldValue`).
    pub xsi_type: Option<String>,
    /// The plain `type` attribute of managed object references.
    pub mo_type: Option<String>,
    /// Text content (trimmed).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// First child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Descends through children by name.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// Text of the child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// This element read as a managed object reference.
    pub fn as_moref(&self) -> Option<MoRef> {
        let kind = self.mo_type.clone()?;
        Some(MoRef::new(kind, self.text.clone()))
    }

    /// The xsi:type, or the element name when it has none.
    pub fn type_name(&self) -> &str {
        self.xsi_type.as_deref().unwrap_or(&self.name)
    }
}

/// An answer that is not well-formed SOAP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unreadable SOAP answer: {}", self.0)
    }
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match s.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => s.into_owned(),
    }
}

fn start(e: &BytesStart<'_>) -> Result<Element, ParseError> {
    let mut el = Element {
        name: local(e.name().as_ref()),
        ..Default::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| ParseError(e.to_string()))?;
        let key = a.key.as_ref();
        let value = a
            .unescape_value()
            .map_err(|e| ParseError(e.to_string()))?
            .into_owned();
        if key == b"type" {
            el.mo_type = Some(value);
        } else if key.ends_with(b":type") {
            el.xsi_type = Some(local(value.as_bytes()));
        }
    }
    Ok(el)
}

/// Parses a document into its root element.
pub fn parse(xml: &str) -> Result<Element, ParseError> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        match reader.read_event().map_err(|e| ParseError(e.to_string()))? {
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let el = start(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.decode().map_err(|e| ParseError(e.to_string()))?;
                    let s =
                        quick_xml::escape::unescape(&s).map_err(|e| ParseError(e.to_string()))?;
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let name = r.decode().map_err(|e| ParseError(e.to_string()))?;
                    let entity = format!("&{name};");
                    let s = quick_xml::escape::unescape(&entity)
                        .map_err(|e| ParseError(e.to_string()))?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| ParseError("unbalanced end tag".into()))?;
                el.text = el.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Eof => return Err(ParseError("document ended early".into())),
            _ => {}
        }
    }
}

/// A vim25 fault: the fault type (`InvalidLogin`, `ManagedObjectNotFound`...), its message and
/// the fault element for details.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// The vim25 fault type, or the SOAP faultcode when the detail names none.
    pub code: String,
    /// faultstring or localizedMessage.
    pub message: String,
    /// The fault element (details such as `obj` of ManagedObjectNotFound).
    pub detail: Option<Element>,
}

/// Reads a SOAP answer: `Ok(Ok(response element))`, `Ok(Err(fault))`, or a parse error.
pub fn decode(xml: &str) -> Result<Result<Element, Fault>, ParseError> {
    let env = parse(xml)?;
    if env.name != "Envelope" {
        return Err(ParseError(format!(
            "root element is {:?}, not Envelope",
            env.name
        )));
    }
    let body = env
        .child("Body")
        .ok_or_else(|| ParseError("no Body".into()))?;
    let first = body
        .children
        .first()
        .ok_or_else(|| ParseError("empty Body".into()))?;
    if first.name == "Fault" {
        return Ok(Err(fault_of(first)));
    }
    Ok(Ok(first.clone()))
}

fn fault_of(f: &Element) -> Fault {
    let message = f.text_of("faultstring").unwrap_or_default().to_owned();
    let detail = f.child("detail").and_then(|d| d.children.first()).cloned();
    let code = match &detail {
        Some(d) => d
            .xsi_type
            .clone()
            .unwrap_or_else(|| d.name.strip_suffix("Fault").unwrap_or(&d.name).to_owned()),
        None => f
            .text_of("faultcode")
            .map(|c| local(c.as_bytes()))
            .unwrap_or_default(),
    };
    Fault {
        code,
        message,
        detail,
    }
}

/// Reads a `LocalizedMethodFault` (a task's `info.error`).
pub fn localized_fault(e: &Element) -> Fault {
    let fault = e.child("fault");
    let code = fault
        .map(|f| f.type_name().to_owned())
        .unwrap_or_else(|| "UnknownFault".to_owned());
    let mut message = e.text_of("localizedMessage").unwrap_or_default().to_owned();
    if message.is_empty()
        && let Some(m) = fault.and_then(|f| f.path(&["faultMessage", "message"]))
    {
        message = m.text.clone();
    }
    if message.is_empty() {
        message = code.clone();
    }
    Fault {
        code,
        message,
        detail: fault.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_escape_and_keep_order() {
        let mut r = Request::new("Login", &MoRef::new("SessionManager", "SessionManager"));
        r.text("userName", "a<b").text("password", "p&\"q");
        let env = r.envelope();
        assert!(env.contains(
            "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this>\
             <userName>a&lt;b</userName><password>p&amp;&quot;q</password></Login>"
        ));
        let parsed = parse(&env).unwrap();
        let login = parsed.path(&["Body", "Login"]).unwrap();
        assert_eq!(login.text_of("password"), Some("p&\"q"));
        assert_eq!(
            login.child("_this").unwrap().as_moref().unwrap().kind,
            "SessionManager"
        );
    }

    #[test]
    fn reads_typed_values_and_faults() {
        let ok = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><CloneVM_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-7</returnval></CloneVM_TaskResponse></soapenv:Body></soapenv:Envelope>"#;
        let r = decode(ok).unwrap().unwrap();
        assert_eq!(
            r.child("returnval").unwrap().as_moref(),
            Some(MoRef::new("Task", "task-7"))
        );
        let fault = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The object has already been deleted or has not been completely created</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">vm-9</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let f = decode(fault).unwrap().unwrap_err();
        assert_eq!(f.code, "ManagedObjectNotFound");
        assert!(f.message.contains("already been deleted"));
        assert_eq!(f.detail.unwrap().child("obj").unwrap().text, "vm-9");
        assert!(decode("<html>busy</html>").is_err());
    }
}
