% --- ast: speed up the SVG backend --------------------------------------------
% It finds every glyph's outline with a fresh regular expression over the whole
% font file (about 1.5 s per page); the outputters are pure, so memoise them.
% The output is byte-identical.
#(let* ((svg (resolve-module '(lily output-svg)))
        (memoize (lambda (proc)
                   (let ((cache (make-hash-table)))
                     (lambda args
                       (or (hash-ref cache args)
                           (let ((value (apply proc args)))
                             (hash-set! cache args value)
                             value)))))))
   (if (module-defined? svg 'stencil-dispatch-alist)
       (module-set! svg 'stencil-dispatch-alist
                    (map (lambda (entry)
                           (if (memq (car entry) '(named-glyph glyph-string))
                               (cons (car entry) (memoize (cdr entry)))
                               entry))
                         (module-ref svg 'stencil-dispatch-alist)))))

% --- ast: tag note heads and staves in the SVG ---------------------------------
#(define (ast-system-rank grob)
   (let ((system (ly:grob-system grob)))
     (list-index (lambda (s) (eq? s system))
                 (ly:spanner-broken-into (ly:grob-original system)))))
#(define (ast-staff-tag grob)
   `((class . "ast-staff") (data-system . ,(ast-system-rank grob))))
% A note head merged into another voice's head (a unison) is not drawn: its
% position in the system finds the head drawn for it.
#(define (ast-notehead-tag grob)
   (let* ((system (ly:grob-system grob))
          (event (ly:grob-property grob 'cause))
          (origin (ly:input-file-line-char-column (ly:event-property event 'origin)))
          (pitch (ly:event-property event 'pitch #f)))
     `((class . "ast-notehead")
       (data-system . ,(ast-system-rank grob))
       (data-origin . ,(format #f "~a:~a" (cadr origin) (caddr origin)))
       (data-pitch . ,(if (ly:pitch? pitch) (+ 60 (ly:pitch-semitones pitch)) -1))
       (data-x . ,(ly:grob-relative-coordinate grob system X))
       (data-y . ,(ly:grob-relative-coordinate grob system Y)))))

% --- ast: performed notes -------------------------------------------------------
% Each performance (tag "unfolded": repeats played; "folded": played as written)
% writes one line per note: "TAG note VOICE MAIN GRACE PITCH LENGTH TIED LINE
% CHAR" (moments and lengths as exact fractions of a whole note, grace < 0
% before the beat), "TAG tie VOICE MAIN" for a tie on a whole chord, and at the
% end "TAG end VOICE MAIN": where the voice's last note, rest or skip ends.
#(define ast-port (open-file "ast-events.txt" "w"))
#(define ast-ends (make-hash-table))
#(define (ast-voice performer)
   (number->string (object-address (ly:translator-context performer)) 16))
#(define (ast-now performer)
   (ly:context-current-moment (ly:translator-context performer)))
#(define (ast-write . fields)
   (display (string-join (map (lambda (f) (format #f "~a" f)) fields) " ") ast-port)
   (newline ast-port)
   (force-output ast-port))
#(define (ast-performer tag)
   (make-performer
    (listeners
     ((note-event performer event)
      (let ((pitch (ly:event-property event 'pitch))
            (origin (ly:input-file-line-char-column (ly:event-property event 'origin)))
            (tied (any (lambda (a) (ly:in-event-class? a 'tie-event))
                       (ly:event-property event 'articulations '()))))
        (if (ly:pitch? pitch)
            (ast-write tag "note" (ast-voice performer)
                       (ly:moment-main (ast-now performer))
                       (ly:moment-grace (ast-now performer))
                       (+ 60 (ly:pitch-semitones pitch))
                       (ly:moment-main (ly:duration-length (ly:event-property event 'duration)))
                       (if tied 1 0) (cadr origin) (caddr origin)))))
     ((tie-event performer event)
      (ast-write tag "tie" (ast-voice performer) (ly:moment-main (ast-now performer))))
     ((rhythmic-event performer event)
      (let ((duration (ly:event-property event 'duration #f))
            (key (cons tag (ast-voice performer))))
        (if (ly:duration? duration)
            (let ((end (+ (ly:moment-main (ast-now performer))
                          (ly:moment-main (ly:duration-length duration)))))
              (if (> end (hash-ref ast-ends key 0))
                  (hash-set! ast-ends key end)))))))
    ((finalize performer)
     (ast-write tag "end" (ast-voice performer)
                (hash-ref ast-ends (cons tag (ast-voice performer)) 0)))))

\paper {
  #(set-paper-size "a4")
  bookTitleMarkup = ##f
  scoreTitleMarkup = ##f
  oddHeaderMarkup = ##f
  evenHeaderMarkup = ##f
  oddFooterMarkup = ##f
  evenFooterMarkup = ##f
}
\layout {
  ragged-last = ##t
  \context {
    \Score
    \override NoteHead.output-attributes = #ast-notehead-tag
    \override StaffSymbol.output-attributes = #ast-staff-tag
  }
}
% --- ast: end --------------------------------------------------------------------
